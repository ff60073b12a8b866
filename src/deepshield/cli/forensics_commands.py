"""``deepshield forensics``: evidence about files that carry no label (issue 16).

``compare`` lays a suspected source onto a suspect file and says whether the suspect is that
picture with a region replaced, with the numbers, a figure and a mask (docs/FORENSICS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stdout, write_atomically
from deepshield.forensics import Outcome
from deepshield.media import read_media_file
from deepshield.services.verify.source_comparison import compare_with_source

app = typer.Typer(help="Evidence about unlabelled files: compare a file with a suspected source.",
                  no_args_is_help=True)

#: Exit code per outcome (errors keep their own codes 1-6).
OUTCOME_EXIT_CODES = {Outcome.DERIVED_LOCAL_DIFFERENCE: 0, Outcome.DERIVED_NO_DIFFERENCE: 0,
                      Outcome.NOT_DERIVED: 20, Outcome.INCONCLUSIVE: 21}
_STYLE = {Outcome.DERIVED_LOCAL_DIFFERENCE: "bold magenta", Outcome.DERIVED_NO_DIFFERENCE: "green",
          Outcome.NOT_DERIVED: "cyan", Outcome.INCONCLUSIVE: "yellow"}


@app.command("compare")
def compare_command(
    suspect: Annotated[Path, typer.Argument(help="The file in question (an image).")],
    source: Annotated[Path, typer.Option("--source", help="The picture it may have been made from.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome and numbers as JSON.")] = False,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Write the side-by-side figure (suspect, aligned source, difference, regions) "
                         "as PNG.")] = None,
    mask: Annotated[Path | None, typer.Option(
        "--mask", help="Write a PNG of the suspect's size, white where it differs from the source.")] = None,
) -> None:
    """Is SUSPECT the source picture with a region replaced?

    Outcomes: derived_local_difference and derived_no_difference (exit 0), not_derived (20: this
    source is not the origin; it says nothing of others), inconclusive (21). Never "fake" or
    "real": it measures differences from this source. Neither file is stored.
    """
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        limit = ctx.settings.limits.max_bytes
        result = compare_with_source(ctx, read_media_file(suspect, limit), read_media_file(source, limit),
                                     principal=principal, suspect_name=suspect.name, source_name=source.name)
        picture = result.figure_png() if figure is not None else None
        if figure is not None and picture is not None:
            write_atomically(figure, picture)
        if mask is not None:
            write_atomically(mask, result.mask_png())
    outcome = result.outcome
    if as_json:
        body = result.to_dict()
        body["figure"] = str(figure) if picture is not None else None
        body["mask"] = str(mask) if mask is not None else None
        print_json(body)
    else:
        stdout.print(f"[bold]{suspect}[/] against [bold]{source}[/]: [{_STYLE[outcome]}]{outcome.value}[/]")
        stdout.print(result.summary)
        numbers = result.comparison
        table = Table("inliers", "overlap", "agreement", "detail correlation", "noise floor", "regions",
                      show_edge=False)
        table.add_row(str(numbers.inliers), f"{numbers.overlap:.0%}",
                      "-" if numbers.agreement is None else f"{numbers.agreement:.1%}",
                      "-" if numbers.correlation is None else f"{numbers.correlation:.3f}",
                      "-" if numbers.noise_floor is None else f"{numbers.noise_floor:.1f} levels",
                      str(len(numbers.regions)))
        stdout.print(table)
        if figure is not None:
            stdout.print(f"figure: {figure}" if picture is not None else
                         "no figure: the pictures could not be aligned")
        if mask is not None:
            stdout.print(f"mask: {mask}")
    raise typer.Exit(OUTCOME_EXIT_CODES[outcome])
