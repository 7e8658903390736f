"""Resources: where the sources and the warehouse are (one Settings object, DOMAIN.md §7),
and the run's build (write-audit-publish, dagster_project/write_audit_publish.py)."""

import dagster as dg
from pydantic import PrivateAttr

from dagster_project.config import Settings, settings
from dagster_project.publish import candidate
from dagster_project.warehouse_lock import RefreshBusy
from dagster_project.write_audit_publish import Build


class WarehouseResource(dg.ConfigurableResource):
    """Paths shared by every asset; defaults follow TSDG_SOURCES_DIR / TSDG_WAREHOUSE_DIR.

    By default the jobs run in one process (in-process executor), so one instance of this
    resource lives for the whole run: the build it opens, and the writer lock, span every
    step. With `joined`, each step process has its own instance, joined to one build."""

    sources_dir: str
    warehouse_dir: str
    # The run's steps are processes of their own (`tsdg refresh --workers`): the launcher
    # holds the writer lock and retires an unpublished build; the steps share the build.
    joined: bool = False
    _build: Build | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        """The working warehouse's paths: for readers (the sensor), never for a run's writes."""
        return settings(self.sources_dir, self.warehouse_dir)

    def build(self, context) -> Settings:
        """This run's build (opened by the run's first step that needs it): its `database`
        is the copy every step of the run reads and writes."""
        if self._build is None:
            try:
                self._build = Build(self.settings, context.run.run_id, context.log.info,
                                    owner=not self.joined)
            except RefreshBusy as exc:
                raise dg.Failure(description=str(exc)) from None
        return self._build.settings

    def promote(self) -> None:
        """Called by the release step once the release is published."""
        self._build.promote()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._build is not None:
            try:
                # A release rendered for this run and not published (the validation or a
                # later step failed) goes: the one place that removes it.
                candidate.drop(self._build.settings.database, context.run.run_id)
            finally:
                retired = self._build.close()
            if retired is not None:
                context.log.warning(f"the build of this run was not published; kept in {retired}")
            self._build = None


def default_warehouse() -> WarehouseResource:
    s = settings()
    return WarehouseResource(sources_dir=str(s.sources_dir), warehouse_dir=str(s.warehouse_dir))
