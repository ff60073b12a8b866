"""The web door's pages, one module per audience: ``portal`` and ``case_status`` (victims),
``verify_page`` (everyone), ``staff`` (sign-in), ``helpline``, ``reviewer``, ``admin`` and
``transparency`` (staff dashboards)."""
