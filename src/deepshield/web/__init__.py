"""The web door: server-rendered pages (Jinja2) over the same services as the CLI and the API.

- ``portal``: the victim's pages (public, no account): what DeepShield does, "stop my images
  spreading" (images are hashed in her browser by ``static/hashing/pdq.js``; only the hashes are
  sent), "check my case" with her case number and PIN, and the quick exit on every page;
- ``verify_page``: "is this labelled?", open to everyone;
- ``staff`` and the dashboards: helpline, platform reviewer, admin and transparency, after a
  sign-in with an API key that is exchanged for a session cookie.

The door is thin: each handler says who is calling (``sessions``) and calls one service, which
decides. ``headers`` sets the Content-Security-Policy and privacy headers on every page;
``forms`` reads forms with a size bound and checks their anti-forgery token. See docs/WEB.md.
"""
