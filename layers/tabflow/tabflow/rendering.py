"""The HTML views (evaluation, validation and monitoring reports, the emails' HTML parts) are
Jinja2 templates in tabflow/templates, shipped inside the package (the domain layer copies the
package whole). One environment per process, autoescaping every value: dataset names, class
labels, file names and errors are user data and reach the HTML only escaped. Anything
deliberately pre-rendered must be a ``markupsafe.Markup`` with a comment saying why."""

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def _fmt(value: Any, spec: str) -> str:
    """Python's format mini-language (``'.1%'``, ``'.4g'``), as in an f-string."""
    return format(value, spec)


def _json(value: Any, indent: int | None = None) -> str:
    """``json.dumps`` as the reports always showed it (Jinja's tojson escapes for scripts)."""
    return json.dumps(value, indent=indent)


@cache
def environment() -> "jinja2.Environment":
    """Built on first use: importing jinja2 costs tens of milliseconds, which the functions
    that import the emails (predict, ingest) pay only when they send one."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=_fmt, json=_json, repr=repr)
    env.globals["zip"] = zip
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
