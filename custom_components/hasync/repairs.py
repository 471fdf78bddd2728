"""Repair issues of the HAsync integration, and their fixes through Supervisor.

``HAsyncRepairs`` evaluates the rules (rules.py) after every update, poll or push, failed or
not, and keeps Settings → Repairs in step with them:

- an issue is created when its condition starts and deleted when it clears; ``hasync_alert``
  is fired both times. A verdict of "cannot tell yet" leaves the issue as it is;
- deleting on clear is what makes a user's *ignore* last exactly until the condition clears:
  the issue registry keeps ``dismissed_version`` when an issue is created again under the same
  id, so an ignored issue stays ignored while its condition lasts (across restarts of Home
  Assistant too), and one that comes back after clearing is a new, visible issue;
- a switched-off rule loses its issues (without an event: its condition did not change);
- unloading keeps the issues, so a reload (after saving the options, say) does not make them
  disappear and reappear: the new coordinator starts with an empty history, and the rules
  that need more of it answer "cannot tell yet", which leaves the issues in place. Disabling
  the entry or removing it deletes its issues: nothing would update them any more;
- after a fix, the issue is raised again only from evidence gathered after the fix: failures
  counted since, and documents from a server process that started since (for up to
  FIX_GRACE). Without this, the last document before a restart, or the failures the restart
  itself causes, would bring the issue straight back.

Issue ids are ``<entry_id>_<key>``, and ``<entry_id>_native_module_failed_<module slug>`` for
each native module. Issues are fixable only when Supervisor runs and the add-on's slug is known
(the entry came from discovery); otherwise their description tells what to do. hassfest lets an
issue's translation have a description or a fix flow, not both, so the translation key is
``<key>`` for the explaining variant and ``<key>_<fix>`` (``unreachable_restart``) for the
fixable one.

The issues of a failing version-bound check (native modules, Node.js) also offer a rollback
(rollback.py) while the server runs another version than the last one seen healthy: the fix flow
looks for a backup of that version and offers to restore it next to the issue's own fix, or says
that there is none. Such an issue is fixable even without a fix of its own
(``<key>_rollback``).

``hasync_alert`` carries ``entry_id``, ``issue`` (the key), ``active``, ``value``,
``threshold`` and, for native modules, ``module``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohasupervisor import SupervisorTimeoutError
from homeassistant.components.hassio import SupervisorError
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util, slugify
import probatio

from . import rules
from .const import (
    DOCS_URL,
    DOMAIN,
    EVENT_ALERT,
    ISSUE_DATABASE_UNAVAILABLE,
    ISSUE_ERRORS_LOGGED,
    ISSUE_FRONTEND_MISSING,
    ISSUE_HIGH_CPU,
    ISSUE_HIGH_MEMORY,
    ISSUE_MEMORY_LEAK_SUSPECTED,
    ISSUE_NATIVE_MODULE_FAILED,
    ISSUE_NODE_UNSUPPORTED,
    ISSUE_UNREACHABLE,
    LOGGER,
    RULE_DATABASE,
    RULE_ERRORS,
    RULE_FRONTEND,
    RULE_HIGH_CPU,
    RULE_HIGH_MEMORY,
    RULE_MEMORY_LEAK,
    RULE_NATIVE_MODULE,
    RULE_NODE_UNSUPPORTED,
    RULE_UNREACHABLE,
)
from .coordinator import HAsyncDataUpdateCoordinator
from .data import HAsyncConfigEntry, StatusSample
from .rollback import HealthyVersion, RollbackBackup, async_find_backup, async_restore
from .supervisor import (
    AddonFix,
    async_addon_builds_locally,
    async_fix_addon,
    async_supervisor_available,
    async_update_available,
)

FIX_GRACE = timedelta(minutes=30)
"""How long after a fix only new evidence can raise the issue again (a rebuild takes minutes)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueSpec:
    """How one rule becomes a repair issue."""

    rule: str
    """The rule, and with it the option that switches it off."""
    key: str
    """Translation key, and the middle part of the issue id."""
    severity: ir.IssueSeverity
    anchor: str
    """Section of the add-on's DOCS.md the issue links to."""
    fix: AddonFix | None
    """What the fix flow does; None: the issue only explains."""
    evaluate: rules.Rule | None = None
    """The rule; None for the native-module rule, which yields one verdict per module."""
    rollback: bool = False
    """Whether a rollback to the last healthy version can fix it (a version-bound check)."""

    @property
    def per_module(self) -> bool:
        """Whether this rule raises one issue per native module."""
        return self.evaluate is None

    def translation_key(self, fix: AddonFix | None, rollback: bool = False) -> str:
        """Return the translation key: ``<key>`` explains, ``<key>_<fix>`` has a fix flow.

        hassfest allows an issue's translation either a description or a fix flow, so an
        issue that is fixable only with Supervisor has one key for each case;
        ``<key>_rollback`` is the flow of an issue whose only fix is the rollback.
        """
        if fix is not None:
            return f"{self.key}_{fix}"
        return f"{self.key}_rollback" if rollback else self.key


ISSUES: tuple[IssueSpec, ...] = (
    IssueSpec(
        rule=RULE_UNREACHABLE,
        key=ISSUE_UNREACHABLE,
        severity=ir.IssueSeverity.ERROR,
        anchor="unreachable",
        fix=AddonFix.RESTART,
        evaluate=rules.unreachable,
    ),
    IssueSpec(
        rule=RULE_HIGH_MEMORY,
        key=ISSUE_HIGH_MEMORY,
        severity=ir.IssueSeverity.WARNING,
        anchor="high-memory",
        fix=AddonFix.RESTART,
        evaluate=rules.high_memory,
    ),
    IssueSpec(
        rule=RULE_HIGH_CPU,
        key=ISSUE_HIGH_CPU,
        severity=ir.IssueSeverity.WARNING,
        anchor="high-cpu",
        fix=None,
        evaluate=rules.high_cpu,
    ),
    IssueSpec(
        rule=RULE_NATIVE_MODULE,
        key=ISSUE_NATIVE_MODULE_FAILED,
        severity=ir.IssueSeverity.ERROR,
        anchor="native-module-failed",
        fix=AddonFix.REBUILD,
        rollback=True,
    ),
    IssueSpec(
        rule=RULE_NODE_UNSUPPORTED,
        key=ISSUE_NODE_UNSUPPORTED,
        severity=ir.IssueSeverity.ERROR,
        anchor="node-unsupported",
        fix=AddonFix.UPDATE,
        evaluate=rules.node_unsupported,
        rollback=True,
    ),
    IssueSpec(
        rule=RULE_DATABASE,
        key=ISSUE_DATABASE_UNAVAILABLE,
        severity=ir.IssueSeverity.ERROR,
        anchor="database-unavailable",
        fix=AddonFix.RESTART,
        evaluate=rules.database_unavailable,
    ),
    IssueSpec(
        rule=RULE_FRONTEND,
        key=ISSUE_FRONTEND_MISSING,
        severity=ir.IssueSeverity.WARNING,
        anchor="frontend-missing",
        fix=None,
        evaluate=rules.frontend_missing,
    ),
    IssueSpec(
        rule=RULE_MEMORY_LEAK,
        key=ISSUE_MEMORY_LEAK_SUSPECTED,
        severity=ir.IssueSeverity.WARNING,
        anchor="memory-leak-suspected",
        fix=AddonFix.RESTART,
        evaluate=rules.memory_leak,
    ),
    IssueSpec(
        rule=RULE_ERRORS,
        key=ISSUE_ERRORS_LOGGED,
        severity=ir.IssueSeverity.WARNING,
        anchor="errors-logged",
        fix=None,
        evaluate=rules.errors_logged,
    ),
)


def issue_id(entry_id: str, key: str, module: str | None = None) -> str:
    """Return the id of an entry's issue: ``<entry_id>_<key>[_<module slug>]``."""
    base = f"{entry_id}_{key}"
    return base if module is None else f"{base}_{slugify(module)}"


def learn_more_url(spec: IssueSpec) -> str:
    """Return the troubleshooting section of the add-on's documentation for this issue."""
    return f"{DOCS_URL}#{spec.anchor}"


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every repair issue of an entry (on removal, or when the entry is disabled)."""
    registry = ir.async_get(hass)
    prefix = f"{entry_id}_"
    for domain, issue in list(registry.issues):
        if domain == DOMAIN and issue.startswith(prefix):
            ir.async_delete_issue(hass, DOMAIN, issue)


@dataclass(frozen=True, slots=True)
class _Finding:
    """The verdict about one issue id."""

    module: str | None
    evaluation: rules.Evaluation


_NOT_REPORTED = _Finding(None, rules.Evaluation(active=False))
"""The finding about a module the server no longer reports: it is not failing."""


def _verdict(findings: dict[str, _Finding] | None, candidate: str) -> _Finding | None:
    """Return the finding about one issue id; None when the rule cannot tell."""
    if findings is None:
        return None
    return findings.get(candidate, _NOT_REPORTED)


@dataclass(frozen=True, slots=True)
class _Fixed:
    """What the integration knew when a fix succeeded; only later evidence counts."""

    at: datetime
    started_at: datetime
    """When the server process that was running at the fix started."""
    failures: int


class HAsyncRepairs:
    """Raises and clears the repair issues of one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: HAsyncConfigEntry,
        coordinator: HAsyncDataUpdateCoordinator,
    ) -> None:
        """Watch the entry's coordinator."""
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self.builds_locally: bool | None = None
        """Whether Supervisor builds the add-on here (so it can rebuild it); None if unknown."""
        self.healthy = HealthyVersion(hass, entry.entry_id)
        self._fixed: dict[str, _Fixed] = {}
        self._confirmed: set[str] = set()
        """Issues this manager has raised, or confirmed after a reload with its own figures."""

    async def async_setup(self) -> None:
        """Learn how the add-on is built and its healthy version, evaluate once, then always."""
        await self.healthy.async_load()
        slug = self.coordinator.addon_slug
        if slug is not None and async_supervisor_available(self.hass, slug):
            self.builds_locally = await async_addon_builds_locally(self.hass, slug)
        self.entry.async_on_unload(self.coordinator.async_add_observer(self.async_evaluate))
        self.async_evaluate()

    @callback
    def async_fixed(self, fixed_issue_id: str) -> None:
        """Note that a fix flow repaired this issue (it deletes the issue itself)."""
        self._fixed[fixed_issue_id] = _Fixed(
            at=dt_util.utcnow(),
            started_at=self.coordinator.data.server.started_at,
            failures=self.coordinator.consecutive_failures,
        )

    @callback
    def async_evaluate(self) -> None:
        """Judge every rule on the current history and update the issues."""
        coordinator = self.coordinator
        now = dt_util.utcnow()
        samples = list(coordinator.samples)
        failures = coordinator.consecutive_failures
        if samples and not failures:
            self.healthy.async_observe(samples[-1].document)
        prefix = f"{self.entry.entry_id}_"
        ours = [
            issue
            for domain, issue in ir.async_get(self.hass).issues
            if domain == DOMAIN and issue.startswith(prefix)
        ]
        for spec in ISSUES:
            # This rule's issues in the registry (active, or kept from before a restart).
            present = [issue for issue in ours if self._belongs(spec, issue)]
            if not coordinator.options.rule_enabled(spec.rule):
                for old in present:
                    ir.async_delete_issue(self.hass, DOMAIN, old)
                self._fixed = {i: f for i, f in self._fixed.items() if i not in present}
                continue
            findings = self._findings(spec, samples, failures, now)
            candidates = {*present, *(findings or {})}
            candidates |= {i for i in self._fixed if self._belongs(spec, i)}
            for candidate in sorted(candidates):
                self._judge(spec, candidate, findings, now)

    def _judge(
        self,
        spec: IssueSpec,
        candidate: str,
        findings: dict[str, _Finding] | None,
        now: datetime,
    ) -> None:
        """Raise, clear or leave one issue."""
        finding = _verdict(findings, candidate)
        if finding is None or finding.evaluation.active is None:
            return
        active = finding.evaluation.active
        if (fixed := self._fixed.get(candidate)) is not None:
            if active and now - fixed.at <= FIX_GRACE:
                # Only what happened since the fix may bring the issue back.
                after = _verdict(self._findings_after_fix(spec, fixed, now), candidate)
                if after is None or not after.evaluation.active:
                    return
            del self._fixed[candidate]
        if active:
            self._raise(spec, candidate, finding)
        else:
            self._clear(spec, candidate, finding, announce=fixed is not None)

    def _findings(
        self,
        spec: IssueSpec,
        samples: Sequence[StatusSample],
        failures: int,
        now: datetime,
    ) -> dict[str, _Finding] | None:
        """Return the rule's verdicts by issue id; None when the module rule cannot tell."""
        options = self.coordinator.options
        entry_id = self.entry.entry_id
        if spec.evaluate is not None:
            evaluation = spec.evaluate(samples, failures, options, now)
            return {issue_id(entry_id, spec.key): _Finding(None, evaluation)}
        verdicts = rules.native_modules(samples, failures, options, now)
        if verdicts is None:
            return None
        return {
            issue_id(entry_id, spec.key, module): _Finding(module, evaluation)
            for module, evaluation in verdicts.items()
        }

    def _findings_after_fix(
        self, spec: IssueSpec, fixed: _Fixed, now: datetime
    ) -> dict[str, _Finding] | None:
        """Judge only what happened after a fix: later failures, newer server processes."""
        coordinator = self.coordinator
        samples = [
            sample
            for sample in coordinator.samples
            if sample.received_at > fixed.at
            and sample.document.server.started_at != fixed.started_at
        ]
        failures = coordinator.consecutive_failures
        last_success = coordinator.last_success_at
        if last_success is None or last_success <= fixed.at:
            # The failures before the fix belong to the outage the fix was for.
            failures = max(0, failures - fixed.failures)
        return self._findings(spec, samples, failures, now)

    def _belongs(self, spec: IssueSpec, candidate: str) -> bool:
        base = issue_id(self.entry.entry_id, spec.key)
        return candidate == base or (spec.per_module and candidate.startswith(f"{base}_"))

    def _raise(self, spec: IssueSpec, raised_id: str, finding: _Finding) -> None:
        """Create the issue unless it is already active; fire the event when it appears.

        An issue still active from before a reload is written once more, without an event, so
        that it shows the current thresholds and whether Supervisor can fix it.
        """
        existing = ir.async_get(self.hass).async_get_issue(DOMAIN, raised_id)
        was_active = existing is not None and existing.active
        coordinator = self.coordinator
        slug = coordinator.addon_slug
        fix = spec.fix
        if fix is AddonFix.REBUILD and not self.builds_locally:
            fix = None  # an add-on from an image registry cannot be rebuilt here
        supervised = slug is not None and async_supervisor_available(self.hass, slug)
        if not supervised:
            fix = None
        rollback_version = self._rollback_version(spec) if supervised else None
        data: dict[str, str | int | float | None] = {
            "entry_id": self.entry.entry_id,
            "issue": spec.key,
            "fix": None if fix is None else fix.value,
            "addon_slug": slug,
            "addon": self.entry.title,
            "rollback_version": rollback_version,
        }
        if finding.module is not None:
            data["module"] = finding.module
        # Written again only when what the fix flow offers changed (a new server version).
        if was_active and raised_id in self._confirmed and existing and existing.data == data:
            return
        self._confirmed.add(raised_id)
        evaluation = finding.evaluation
        placeholders = {**evaluation.placeholders, "addon": self.entry.title}
        if spec.key == ISSUE_UNREACHABLE:
            error = coordinator.last_exception
            placeholders["error"] = str(error) if error else "unknown error"
        # The texts come from the server, which may echo the token in them.
        redact = coordinator.redact
        placeholders = {key: redact(value) for key, value in placeholders.items()}
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            raised_id,
            is_fixable=fix is not None or rollback_version is not None,
            is_persistent=False,
            severity=spec.severity,
            translation_key=spec.translation_key(fix, rollback_version is not None),
            translation_placeholders=placeholders,
            learn_more_url=learn_more_url(spec),
            data=data,
        )
        if not was_active:
            LOGGER.debug("Raised repair issue %s", raised_id)
            self._fire(spec, finding.module, evaluation, active=True)

    def _rollback_version(self, spec: IssueSpec) -> str | None:
        """Return the version a rollback would restore, if one applies to this issue."""
        healthy = self.healthy.version
        if not spec.rollback or healthy is None:
            return None
        return None if healthy == self.coordinator.data.server.version else healthy

    def _clear(
        self,
        spec: IssueSpec,
        cleared_id: str,
        finding: _Finding,
        *,
        announce: bool = False,
    ) -> None:
        """Delete the issue if it exists, and fire the event.

        ``announce``: fire the event even though the issue is gone, because a fix flow deleted
        it and this is the moment its condition is seen cleared.
        """
        self._confirmed.discard(cleared_id)
        existing = ir.async_get(self.hass).async_get_issue(DOMAIN, cleared_id)
        if existing is None and not announce:
            return
        if existing is not None:
            ir.async_delete_issue(self.hass, DOMAIN, cleared_id)
        LOGGER.debug("Cleared repair issue %s", cleared_id)
        module = finding.module
        if spec.per_module and module is None:
            # A module the server stopped reporting: its name is in the issue's data (or, for
            # an issue kept from before a restart, only its slug in the id).
            data = existing.data if existing is not None else None
            module = str(
                (data or {}).get("module")
                or cleared_id.removeprefix(f"{issue_id(self.entry.entry_id, spec.key)}_")
            )
        self._fire(spec, module, finding.evaluation, active=False)

    def _fire(
        self,
        spec: IssueSpec,
        module: str | None,
        evaluation: rules.Evaluation,
        *,
        active: bool,
    ) -> None:
        value = evaluation.value
        data: dict[str, Any] = {
            "entry_id": self.entry.entry_id,
            "issue": spec.key,
            "active": active,
            "value": self.coordinator.redact(value) if isinstance(value, str) else value,
            "threshold": evaluation.threshold,
        }
        if module is not None:
            data["module"] = module
        self.hass.bus.async_fire(EVENT_ALERT, data)


class HAsyncFixFlow(RepairsFlow):
    """Restart, rebuild or update the add-on, or restore its last healthy version, after a confirm.

    With a rollback to offer (``rollback_version``), the first step looks for a backup of that
    version: found, it is offered next to the issue's own fix (a menu) or alone; not found, the
    flow says so and offers the own fix, or ends there. Supervisor errors end the flow with a
    translated reason and change nothing.
    """

    def __init__(
        self,
        fix: AddonFix | None,
        addon_slug: str,
        entry_id: str,
        addon: str,
        rollback_version: str | None = None,
    ) -> None:
        """Remember what to do with which add-on."""
        super().__init__()
        self._fix = fix
        self._addon_slug = addon_slug
        self._entry_id = entry_id
        self._addon = addon
        self._rollback_version = rollback_version
        self._backup: RollbackBackup | None = None

    def _placeholders(self) -> dict[str, str]:
        """Return the issue's own placeholders and those of the rollback."""
        issue = ir.async_get(self.hass).async_get_issue(self.handler, self.issue_id)
        placeholders = {**((issue and issue.translation_placeholders) or {}), "addon": self._addon}
        if self._rollback_version is not None:
            placeholders["rollback_version"] = self._rollback_version
        if (backup := self._backup) is not None:
            placeholders["backup_name"] = backup.name
            placeholders["backup_date"] = dt_util.as_local(backup.date).strftime("%Y-%m-%d %H:%M")
        return placeholders

    def _abort(self, reason: str, error: Exception | None = None) -> RepairsFlowResult:
        placeholders = {"addon": self._addon}
        if self._rollback_version is not None:
            placeholders["rollback_version"] = self._rollback_version
        if error is not None:
            placeholders["error"] = str(error) or type(error).__name__
        return self.async_abort(reason=reason, description_placeholders=placeholders)

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Find what can be offered: the backup to restore, an update that exists."""
        if self._rollback_version is not None:
            try:
                self._backup = await async_find_backup(
                    self.hass, self._addon_slug, self._rollback_version
                )
            except SupervisorError as err:
                return self._abort("backups_unavailable", err)
        if self._fix is AddonFix.UPDATE:
            try:
                available = await async_update_available(self.hass, self._addon_slug)
            except SupervisorError as err:
                return self._abort("update_failed", err)
            if not available:
                if self._rollback_version is None:
                    return self._abort("no_update_available")
                self._fix = None  # the rollback is what remains
        if self._backup is not None:
            if self._fix is None:
                return await self.async_step_rollback()
            return await self.async_step_choose()
        if self._rollback_version is not None:
            if self._fix is None:
                return self._abort("no_backup")
            return await self.async_step_no_backup()
        return await self.async_step_confirm()

    async def async_step_choose(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Offer the rollback next to the issue's own fix."""
        return self.async_show_menu(
            step_id="choose",
            menu_options=["rollback", "confirm"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_no_backup(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Say that no backup holds the healthy version; offer the issue's own fix."""
        return self.async_show_menu(
            step_id="no_backup",
            menu_options=["confirm"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Show what the issue's fix does; on submit, ask Supervisor to do it."""
        fix = self._fix
        assert fix is not None  # noqa: S101 - init offers this step only with a fix
        if user_input is None:
            return self._confirmation("confirm")
        try:
            await async_fix_addon(self.hass, self._addon_slug, fix)
        except SupervisorError as err:
            if fix is AddonFix.REBUILD and isinstance(err, SupervisorTimeoutError):
                # Supervisor goes on building after the request times out.
                return self._abort("rebuild_running")
            return self._abort(f"{fix}_failed", err)
        return self._fixed()

    async def async_step_rollback(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Show the backup to restore; on submit, restore only the add-on from it."""
        backup = self._backup
        assert backup is not None  # noqa: S101 - init offers this step only with a backup
        if user_input is None:
            return self._confirmation("rollback")
        try:
            await async_restore(self.hass, self._addon_slug, backup)
        except SupervisorError as err:
            return self._abort("rollback_failed", err)
        return self._fixed("rollback_started")

    def _confirmation(self, step_id: str) -> RepairsFlowResult:
        """Show a step that describes what Submit does."""
        return self.async_show_form(
            step_id=step_id,
            data_schema=probatio.Schema({}),
            description_placeholders=self._placeholders(),
        )

    def _fixed(self, description: str | None = None) -> RepairsFlowResult:
        """Tell the entry's repairs that the fix ran, so only new evidence brings the issue back.

        ``description``: the result's text (a restore goes on in the background), if not the
        default one.
        """
        entry: HAsyncConfigEntry | None = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is not None and entry.state is ConfigEntryState.LOADED:
            entry.runtime_data.repairs.async_fixed(self.issue_id)
        if description is None:
            return self.async_create_entry(data={})
        return self.async_create_entry(
            data={}, description=description, description_placeholders=self._placeholders()
        )


async def async_create_fix_flow(
    hass: HomeAssistant,
    issue_id: str,
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """Return the fix flow of a fixable HAsync issue."""
    data = data or {}
    fix, slug, entry_id = data.get("fix"), data.get("addon_slug"), data.get("entry_id")
    rollback_version = data.get("rollback_version")
    addon_fix = AddonFix(fix) if isinstance(fix, str) and fix in set(AddonFix) else None
    rollback = rollback_version if isinstance(rollback_version, str) else None
    known = addon_fix is not None or (fix is None and rollback is not None)
    if known and isinstance(slug, str) and isinstance(entry_id, str):
        addon = str(data.get("addon") or slug)
        return HAsyncFixFlow(addon_fix, slug, entry_id, addon, rollback)
    # Not raised by this version of the integration: confirming just removes it.
    return ConfirmRepairFlow()
