"""SlackTemplateEngine: the words of a message, from sandboxed Jinja2 templates per alert type.

Built-in templates live in ``alerting/templates/alerts/<type>.j2`` (``default.j2`` for any other
type); a tenant overrides any of them with ``<ALERTING_TENANTS_DIR>/<tenant>/templates/<type>.j2``.
Templates run in a ``SandboxedEnvironment`` with ``StrictUndefined``. The alert's text reaches
them only as values, so ``{{ 7*7 }}`` in a message is shown as written. An override is checked
when first used (syntax, unknown names, unsafe constructs, a trial render in every locale and
severity); a broken one is reported with tenant, file, line and reason, and the built-in
template serves meanwhile: a broken override never stops delivery.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    meta,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from alerting.domain.events import Severity
from alerting.domain.views import AlertView
from alerting.i18n import SUPPORTED_LOCALES, translator

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "templates" / "alerts"
DEFAULT_TEMPLATE = "default"
#: Field keys a template may list (besides ``label:<name>``).
FIELD_KEYS = frozenset(
    {"tenant", "environment", "type", "count", "first_seen", "last_seen", "source", "labels"}
)
#: Names a template may use (its inputs, and the outputs it sets in branches); anything else
#: is reported as unknown when it is loaded.
KNOWN_NAMES = frozenset({"alert", "locale", "oncall", "_", "title", "summary", "fields", "note"})


@dataclass(frozen=True, slots=True)
class RenderedAlert:
    title: str
    summary: str
    fields: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    tenant_id: str | None
    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        owner = f"tenant {self.tenant_id}: " if self.tenant_id else ""
        return f"{owner}{where}: {self.reason}"


@dataclass
class _Loaded:
    template: Template | None
    mtime: float
    problems: list[TemplateProblem] = field(default_factory=list)


def _environment(directory: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        autoescape=False,
        auto_reload=False,
    )
    env.filters.update(ago=_ago, datetime=_datetime, duration=_duration, number=_number)
    return env


# Locale-aware filters: the locale is the render's own (`locale` in the context).
@pass_context
def _ago(context: Context, moment: datetime) -> str:
    return translator(context["locale"]).ago(moment)


@pass_context
def _datetime(context: Context, moment: datetime) -> str:
    return translator(context["locale"]).datetime(moment)


@pass_context
def _duration(context: Context, delta: timedelta) -> str:
    return translator(context["locale"]).duration(delta)


@pass_context
def _number(context: Context, value: float) -> str:
    return translator(context["locale"]).number(value)


class SlackTemplateEngine:
    """Renders titles, summaries and field choices; caches compiled templates."""

    def __init__(self, tenants_dir: Path | None = None) -> None:
        self.tenants_dir = tenants_dir
        self._builtin_env = _environment(BUILTIN_DIR)
        self._builtin: dict[str, Template] = {}
        self._overrides: dict[Path, _Loaded] = {}
        self._reported: set[tuple[Path, float]] = set()

    # --- rendering ---

    def render(self, view: AlertView, locale: str) -> RenderedAlert:
        template = self._template_for(view.tenant_id, view.alert_type)
        return self._render(template, view, locale)

    def _render(self, template: Template, view: AlertView, locale: str) -> RenderedAlert:
        module = template.make_module(self._context(view, locale))
        fields = tuple(str(key) for key in getattr(module, "fields", ()) or ())
        return RenderedAlert(
            title=str(getattr(module, "title", "") or view.alert_type),
            summary=str(getattr(module, "summary", "") or view.message),
            fields=fields,
            note=str(getattr(module, "note", "") or ""),
        )

    def _context(self, view: AlertView, locale: str) -> dict[str, Any]:
        tr = translator(locale)
        return {
            "alert": {
                "type": view.alert_type,
                "severity": view.severity.value,
                "environment": view.environment,
                "message": view.message,
                "labels": dict(view.labels),
                "annotations": dict(view.annotations),
                "count": view.count,
                "first_seen": view.first_seen_at,
                "last_seen": view.last_seen_at,
                "source": view.source,
                "status": view.status,
                "tenant": view.tenant_name,
            },
            "locale": locale,
            # Who is on call in the tenant's `primary` schedule, as a Slack mention, or "".
            "oncall": view.oncall or "",
            "_": tr.gettext,
        }

    # --- choosing and loading ---

    def _template_for(self, tenant_id: str, alert_type: str) -> Template:
        for name in (alert_type, DEFAULT_TEMPLATE):
            override = self._override(tenant_id, name)
            if override is not None:
                return override
            builtin = self._builtin_template(name)
            if builtin is not None:
                return builtin
        raise LookupError("the built-in default template is missing")  # packaging error

    def _builtin_template(self, name: str) -> Template | None:
        if name not in self._builtin:
            if not (BUILTIN_DIR / f"{name}.j2").is_file():
                return None
            self._builtin[name] = self._prepare(self._builtin_env, f"{name}.j2")
        return self._builtin[name]

    def _prepare(self, env: SandboxedEnvironment, filename: str) -> Template:
        return env.get_template(filename)

    def _override(self, tenant_id: str, name: str) -> Template | None:
        if self.tenants_dir is None:
            return None
        path = self.tenants_dir / tenant_id / "templates" / f"{name}.j2"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        loaded = self._overrides.get(path)
        if loaded is None or loaded.mtime != mtime:
            loaded = self._load_override(tenant_id, path, mtime)
            self._overrides[path] = loaded
        if loaded.problems and (path, mtime) not in self._reported:
            self._reported.add((path, mtime))
            for problem in loaded.problems:
                log.warning("template override not used, built-in serves: %s", problem)
        return loaded.template

    def _load_override(self, tenant_id: str, path: Path, mtime: float) -> _Loaded:
        problems = check_template(path.parent, path.name, tenant_id=tenant_id)
        if problems:
            return _Loaded(None, mtime, problems)
        return _Loaded(self._prepare(_environment(path.parent), path.name), mtime)

    # --- checking everything ---

    def check(self) -> list[TemplateProblem]:
        problems: list[TemplateProblem] = []
        for path in sorted(BUILTIN_DIR.glob("*.j2")):
            problems += check_template(BUILTIN_DIR, path.name, tenant_id=None)
        if self.tenants_dir is not None and self.tenants_dir.is_dir():
            for path in sorted(self.tenants_dir.glob("*/templates/*.j2")):
                problems += check_template(
                    path.parent, path.name, tenant_id=path.parent.parent.name
                )
        return problems


def check_template(
    directory: Path, filename: str, *, tenant_id: str | None
) -> list[TemplateProblem]:
    """Every problem of one template: syntax, unknown names, then trial renders."""
    path = str(directory / filename)
    env = _environment(directory)
    try:
        source = (directory / filename).read_text(encoding="utf-8")
        ast = env.parse(source, filename=filename)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(tenant_id, path, exc.lineno, f"syntax error: {exc.message}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [TemplateProblem(tenant_id, path, None, f"cannot read: {exc}")]
    unknown = sorted(meta.find_undeclared_variables(ast) - KNOWN_NAMES)
    if unknown:
        line = _first_line_of(source, unknown[0])
        return [TemplateProblem(tenant_id, path, line, f"unknown variable {unknown[0]!r}")]
    template = env.from_string(source)
    engine = SlackTemplateEngine()
    problems: list[TemplateProblem] = []
    for view in _samples():
        for locale in SUPPORTED_LOCALES:
            try:
                rendered = engine._render(template, view, locale)
            except Exception as exc:  # any failure of tenant code is a finding, not a crash
                return [TemplateProblem(tenant_id, path, _error_line(exc), _reason(exc))]
            bad = [f for f in rendered.fields if f not in FIELD_KEYS and not f.startswith("label:")]
            if bad:
                problems.append(TemplateProblem(tenant_id, path, None, f"unknown field {bad[0]!r}"))
                return problems
    return problems


def _reason(exc: Exception) -> str:
    kind = "unsafe construct" if type(exc).__name__ == "SecurityError" else type(exc).__name__
    return f"{kind}: {exc}"


def _error_line(exc: Exception) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(
            "<template>"
        ) or tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _first_line_of(source: str, name: str) -> int | None:
    for number, text in enumerate(source.splitlines(), start=1):
        if name in text:
            return number
    return None


def _samples() -> list[AlertView]:
    """Alerts a template is tried on: every severity, with and without an environment, with
    and without someone on call."""
    now = datetime.now(UTC)
    views = []
    for severity in Severity:
        environments = ("production", "staging", None)
        for environment, oncall in itertools.product(environments, (None, "<@U0SAMPLE>")):
            views.append(
                AlertView(
                    alert_id="00000000-0000-0000-0000-000000000000",
                    tenant_id="sample",
                    tenant_name="Sample",
                    alert_type="sample",
                    severity=severity,
                    message="sample message",
                    status="firing",
                    environment=environment,
                    labels={"host": "web-1", "service": "api"},
                    annotations={},
                    source="sample",
                    count=3,
                    first_seen_at=now - timedelta(minutes=5),
                    last_seen_at=now,
                    oncall=oncall,
                )
            )
    return views
