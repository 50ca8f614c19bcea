"""The application factory: bind extensions, register views and APIs, nothing else."""

from __future__ import annotations

from flask import Flask

from config import BASE_DIR, INSTANCE_DIR, Config


def create_app(config_class: type[Config] = Config) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config_class)
    config_class.finalize(app.config)

    from app.errors import install_strict_converters

    install_strict_converters(app)  # before any route: ids in paths are ASCII and within bigint

    from app.auth import PageSessionInterface

    app.session_interface = PageSessionInterface()

    from app.extensions import appbuilder, csrf, db, mail, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    mail.init_app(app)
    csrf.init_app(app)

    with app.app_context():
        from app import models  # noqa: F401  (registers the tables on the metadata)
        from app.domain import activity, audit, requests  # noqa: F401  (session listeners: audit, derived columns)

        appbuilder.init_app(app, db.session)
        _register_views(appbuilder)

    from app import formatting
    from app.api.base import register_openapi_corrections
    from app.cli import crm_cli
    from app.errors import register_error_handlers
    from app.health import health_blueprint
    from app.views import base as base_views
    from app.views import history as history_views
    from app.views import reminders as reminder_views
    from app.views import requests as request_views

    formatting.register(app)
    register_error_handlers(app)
    register_openapi_corrections(app)
    request_views.register_template_globals(app)
    reminder_views.register_template_globals(app)
    history_views.register_template_globals(app)
    base_views.register_template_globals(app)
    app.register_blueprint(health_blueprint)
    csrf.exempt(health_blueprint)
    app.cli.add_command(crm_cli)
    return app


def _register_views(appbuilder) -> None:
    from flask_babel import lazy_gettext as _l

    from app.api.agent import AgentApi
    from app.api.catalogue import CatalogueApi
    from app.api.clients import ContactApi, OrganizationApi
    from app.api.reminders import ReminderApi
    from app.api.requests import RequestApi
    from app.views.agent import AgentSettingsView
    from app.views.backups import BackupsView
    from app.views.board import BoardView
    from app.views.catalogue import CatalogueEntryView, DocumentCategoryView
    from app.views.clients import ContactView, OrganizationView
    from app.views.imports import ImportView
    from app.views.mail_settings import MailSettingsView
    from app.views.radar_settings import RadarSettingsView
    from app.views.reminders import RemindersView
    from app.views.reports import ReportsView
    from app.views.requests import OrganizationRequestsView, RequestView

    appbuilder.add_view(
        OrganizationView,
        "Organizations",
        label=_l("Organisations"),
        icon="fa-building",
        category="Client base",
        category_label=_l("Client base"),
        category_icon="fa-address-book",
    )
    appbuilder.add_view(
        ContactView,
        "Contacts",
        label=_l("Contacts"),
        icon="fa-user",
        category="Client base",
        category_label=_l("Client base"),
    )
    appbuilder.add_view(
        ImportView,
        "Import",
        label=_l("Import"),
        icon="fa-upload",
        category="Client base",
        category_label=_l("Client base"),
    )
    appbuilder.add_view(RequestView, "Requests", label=_l("Requests"), icon="fa-file-text-o")
    appbuilder.add_view(BoardView, "Board", label=_l("Board"), icon="fa-columns")
    appbuilder.add_view(ReportsView, "Reports", label=_l("Reports"), icon="fa-bar-chart")
    appbuilder.add_view_no_menu(OrganizationRequestsView)
    appbuilder.add_view_no_menu(RemindersView)  # reached from the navigation bar's signal
    appbuilder.add_view_no_menu(AgentSettingsView)
    appbuilder.add_view(
        CatalogueEntryView,
        "Equipment catalogue",
        label=_l("Equipment catalogue"),
        icon="fa-cubes",
        category="Reference data",
        category_label=_l("Reference data"),
        category_icon="fa-book",
    )
    appbuilder.add_view(
        DocumentCategoryView,
        "Document categories",
        label=_l("Document categories"),
        icon="fa-folder",
        category="Reference data",
        category_label=_l("Reference data"),
    )
    appbuilder.add_view(
        BackupsView,
        "Backups",
        label=_l("Backups"),
        icon="fa-floppy-o",
        category="Reference data",
        category_label=_l("Reference data"),
    )
    appbuilder.add_view(
        MailSettingsView,
        "Mail",
        label=_l("Mail"),
        icon="fa-envelope-o",
        category="Reference data",
        category_label=_l("Reference data"),
    )
    appbuilder.add_view(
        RadarSettingsView,
        "Stalled radar",
        label=_l("Stalled radar"),
        icon="fa-bullseye",
        category="Reference data",
        category_label=_l("Reference data"),
    )
    appbuilder.add_api(OrganizationApi)
    appbuilder.add_api(ContactApi)
    appbuilder.add_api(CatalogueApi)
    appbuilder.add_api(RequestApi)
    appbuilder.add_api(ReminderApi)
    appbuilder.add_api(AgentApi)
