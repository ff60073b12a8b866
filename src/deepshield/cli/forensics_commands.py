"""``deepshield forensics``: evidence about files that carry no label (issue 16).

``compare`` lays a suspected source onto a suspect file and says whether the suspect is that
picture (or footage) with a region replaced, with the numbers, a figure and a mask; ``sources``
(``cli/source_commands.py``) finds registered sources to compare with (docs/FORENSICS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stderr, stdout, write_atomically
from deepshield.cli.source_commands import sources_command
from deepshield.forensics import Comparison, Outcome
from deepshield.forensics.figure import clock
from deepshield.forensics.video_comparison import VideoComparison
from deepshield.media import read_media_file
from deepshield.services.verify.source_comparison import compare_with_source

app = typer.Typer(
    help="Evidence about unlabelled files: compare a file with a suspected source, or find one.",
    no_args_is_help=True)

#: Exit code per outcome (errors keep their own codes 1-6).
OUTCOME_EXIT_CODES = {Outcome.DERIVED_LOCAL_DIFFERENCE: 0, Outcome.DERIVED_NO_DIFFERENCE: 0,
                      Outcome.NOT_DERIVED: 20, Outcome.INCONCLUSIVE: 21}
_STYLE = {Outcome.DERIVED_LOCAL_DIFFERENCE: "bold magenta", Outcome.DERIVED_NO_DIFFERENCE: "green",
          Outcome.NOT_DERIVED: "cyan", Outcome.INCONCLUSIVE: "yellow"}


def _numbers_table(comparison: Comparison | VideoComparison) -> Table:
    if isinstance(comparison, VideoComparison):
        table = Table("file time", "source time", "outcome", "inliers", "agreement", "regions",
                      show_edge=False)
        for frame in comparison.frames:
            numbers = frame.comparison
            table.add_row(clock(frame.suspect_time_s),
                          "-" if frame.source_time_s is None else clock(frame.source_time_s),
                          numbers.outcome.value, str(numbers.inliers),
                          "-" if numbers.agreement is None else f"{numbers.agreement:.1%}",
                          str(len(numbers.regions)))
        return table
    table = Table("inliers", "overlap", "agreement", "detail correlation", "noise floor", "regions",
                  show_edge=False)
    table.add_row(str(comparison.inliers), f"{comparison.overlap:.0%}",
                  "-" if comparison.agreement is None else f"{comparison.agreement:.1%}",
                  "-" if comparison.correlation is None else f"{comparison.correlation:.3f}",
                  "-" if comparison.noise_floor is None else f"{comparison.noise_floor:.1f} levels",
                  str(len(comparison.regions)))
    return table


@app.command("compare")
def compare_command(
    suspect: Annotated[Path, typer.Argument(help="The file in question (an image or a video).")],
    source: Annotated[Path, typer.Option("--source",
                                         help="The picture or video it may have been made from.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome and numbers as JSON.")] = False,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Write the side-by-side figure (suspect, aligned source, difference, regions) "
                         "as PNG; for a video, the timeline strip of the frames compared above it.")] = None,
    mask: Annotated[Path | None, typer.Option(
        "--mask", help="Write a PNG of the suspect's size, white where it differs from the source "
                       "(a picture only).")] = None,
) -> None:
    """Is SUSPECT the source picture (or footage) with a region replaced?

    Two videos: SUSPECT is placed in SOURCE by its frames' hashes (another frame rate is fine) and
    up to 12 frames are compared with the source frame shown at the same moment. A picture against
    a source video is compared with the source frames nearest to it.

    Outcomes: derived_local_difference and derived_no_difference (exit 0), not_derived (20: this
    source is not the origin; it says nothing of others), inconclusive (21). Never "fake" or
    "real": it measures differences from this source. Neither file is stored.
    """
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        limit = ctx.settings.limits.max_bytes
        suspect_data, source_data = read_media_file(suspect, limit), read_media_file(source, limit)
        with stderr.status("comparing…") as status:
            result = compare_with_source(ctx, suspect_data, source_data, principal=principal,
                                         suspect_name=suspect.name, source_name=source.name,
                                         progress=lambda step: status.update(step + "…"))
        picture = result.figure_png() if figure is not None else None
        if figure is not None and picture is not None:
            write_atomically(figure, picture)
        mask_picture = result.mask_png() if mask is not None else None
        if mask is not None and mask_picture is not None:
            write_atomically(mask, mask_picture)
    outcome = result.outcome
    if as_json:
        body = result.to_dict()
        body["figure"] = str(figure) if picture is not None else None
        body["mask"] = str(mask) if mask_picture is not None else None
        print_json(body)
    else:
        stdout.print(f"[bold]{suspect}[/] against [bold]{source}[/]: [{_STYLE[outcome]}]{outcome.value}[/]")
        stdout.print(result.summary)
        stdout.print(_numbers_table(result.comparison))
        if figure is not None:
            stdout.print(f"figure: {figure}" if picture is not None else
                         "no figure: the pictures could not be aligned")
        if mask is not None:
            stdout.print(f"mask: {mask}" if mask_picture is not None else
                         "no mask: masks are drawn for pictures")
    raise typer.Exit(OUTCOME_EXIT_CODES[outcome])


# Finding the source has a module of its own; it is listed after compare.
app.command("sources")(sources_command)
