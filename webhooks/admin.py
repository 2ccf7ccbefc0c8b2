"""The admin for label mappings and accounts, and the match preview.

Every change goes through the model's `save()` (never `QuerySet.update()`), so that the
config version moves and every worker and replica uses it on its next delivery.
"""
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from webhooks import preview
from webhooks.forms import AccountForm, LabelMappingForm, PreviewForm
from webhooks.matching import Scope
from webhooks.models import Account, LabelMapping

# Past this many names, an action's message says how many more there were.
NAMED_IN_MESSAGE = 10

Action = Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]


def _flag_action(field: str, value: bool, verb: str, done: str, already: str) -> Action:
    """The action "`verb` selected <rows>", which sets `field` to `value` through _set_flag."""

    @admin.action(description=f"{verb} selected %(verbose_name_plural)s", permissions=["change"])
    def action(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        _set_flag(model_admin, request, queryset, field, value, done, already)

    return action


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(scope.word, scope.word.capitalize()) for scope in Scope]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The mappings of the chosen scope; the admin's queryset carries it (`with_scope`)."""
        chosen = next((scope for scope in Scope if scope.word == self.value()), None)
        return queryset if chosen is None else queryset.filter(scope=chosen)


@admin.register(LabelMapping)
class LabelMappingAdmin(admin.ModelAdmin):
    form = LabelMappingForm
    list_display = ("label", "scope_text", "pool", "image", "priority", "enabled", "last_change")
    list_display_links = ("label",)
    list_filter = ("pool", ScopeFilter, "enabled")
    search_fields = ("label", "pool", "image", "repo_glob", "note", "owner_id__exact")
    readonly_fields = ("owner_account", "created_at", "updated_at")
    actions = ("enable_mappings", "disable_mappings")
    list_per_page = 100
    fieldsets = (
        ("Match", {"fields": ("label", "extra_labels")}),
        ("Serve with", {"fields": ("pool", "image")}),
        (
            "Scope",
            {
                "fields": ("owner_id", "owner_account", "repo_glob"),
                "description": (
                    "Only the most specific scope with enabled mappings for a repository "
                    "decides: repository, then account, then global."
                ),
            },
        ),
        (
            "Order",
            {
                "fields": ("priority", "enabled"),
                "description": "Within a scope, exact labels beat globs, then the lower priority.",
            },
        ),
        (None, {"fields": ("note", "created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        owner = Account.objects.filter(github_id=OuterRef("owner_id"))
        return (
            super()
            .get_queryset(request)
            .with_scope()
            .annotate(
                owner_login=Subquery(owner.values("login")[:1]),
                owner_pk=Subquery(owner.values("pk")[:1]),
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Also find the mappings scoped to accounts whose login contains the search term."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            logins = Account.objects.filter(login__icontains=search_term.strip())
            found |= queryset.filter(owner_id__in=logins.values("github_id"))
        return found, duplicates

    @admin.display(description="scope", ordering="scope")
    def scope_text(self, mapping: LabelMapping) -> str:
        scope = Scope(mapping.scope)  # with_scope(), in get_queryset
        owner = getattr(mapping, "owner_login", None) or str(mapping.owner_id)
        match scope:
            case Scope.REPOSITORY:
                return f"{scope.word} {owner}/{mapping.repo_glob}"
            case Scope.ACCOUNT:
                return f"{scope.word} {owner}"
        return scope.word

    @admin.display(description="last change", ordering="updated_at")
    def last_change(self, mapping: LabelMapping) -> Any:
        return mapping.updated_at

    @admin.display(description="account")
    def owner_account(self, mapping: LabelMapping) -> str:
        if mapping.owner_id is None:
            return "every account"
        pk = getattr(mapping, "owner_pk", None)
        if pk is None:
            return format_html(
                "no account row for {}: <a href='{}?github_id={}'>add one</a>",
                mapping.owner_id,
                reverse("admin:webhooks_account_add"),
                mapping.owner_id,
            )
        return format_html(
            "<a href='{}'>{}</a>",
            reverse("admin:webhooks_account_change", args=[pk]),
            mapping.owner_login,
        )

    enable_mappings = _flag_action("enabled", True, "Enable", "Enabled", "already enabled")
    disable_mappings = _flag_action("enabled", False, "Disable", "Disabled", "already disabled")

    def get_urls(self) -> list[URLPattern]:
        preview_url = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name="labelmapping_preview",
        )
        return [preview_url, *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """Which mapping, pool and image a job would get, and why the other mappings lost.

        It names the account and its staging and blocked flags, so it needs the permission to
        view accounts as well as label mappings."""
        accounts = self.admin_site.get_model_admin(Account)
        if not (self.has_view_permission(request) and accounts.has_view_permission(request)):
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        result = None
        if form.is_valid():
            result = preview.preview(
                form.cleaned_data["runs_on"],
                form.cleaned_data["owner_id"],
                form.cleaned_data["repository"],
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Preview a match",
            "form": form,
            "preview": result,
            "runnerhub_env": settings.RUNNERHUB_ENV,
        }
        return TemplateResponse(request, "admin/webhooks/labelmapping/preview.html", context)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = (
        "login",
        "github_id",
        "type",
        "staging",
        "blocked",
        "workers",
        "mappings",
        "last_change",
    )
    list_filter = ("type", "staging", "blocked")
    search_fields = ("login", "note", "github_id__exact")
    readonly_fields = ("mappings", "created_at", "updated_at")
    actions = ("move_to_staging", "move_to_production", "block_accounts", "unblock_accounts")
    fieldsets = (
        (None, {"fields": ("github_id", "login", "type")}),
        ("Service", {"fields": ("staging", "blocked", "max_workers")}),
        (None, {"fields": ("note", "mappings", "created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        scoped = (
            LabelMapping.objects.filter(owner_id=OuterRef("github_id"))
            .order_by()
            .values("owner_id")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                mapping_count=Coalesce(Subquery(scoped), 0, output_field=models.IntegerField())
            )
        )

    @admin.display(description="last change", ordering="updated_at")
    def last_change(self, account: Account) -> Any:
        return account.updated_at

    @admin.display(description="max workers", ordering="max_workers")
    def workers(self, account: Account) -> str:
        return "unlimited" if account.max_workers is None else str(account.max_workers)

    @admin.display(description="label mappings", ordering="mapping_count")
    def mappings(self, account: Account) -> str:
        count = getattr(account, "mapping_count", 0)
        if account.pk is None or not count:
            return "none"
        return format_html(
            "<a href='{}?owner_id={}'>{} {}</a>",
            reverse("admin:webhooks_labelmapping_changelist"),
            account.github_id,
            count,
            "mapping" if count == 1 else "mappings",
        )

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.staging:
            _warn_if_not_forwarding(request)

    @admin.action(description="Move selected accounts to staging", permissions=["change"])
    def move_to_staging(self, request: HttpRequest, queryset: QuerySet) -> None:
        if _set_flag(
            self, request, queryset, "staging", True, "Moved to staging", "already in staging"
        ):
            _warn_if_not_forwarding(request)

    @admin.action(description="Move selected accounts to production", permissions=["change"])
    def move_to_production(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_flag(
            self,
            request,
            queryset,
            "staging",
            False,
            "Moved to production",
            "already in production",
        )

    block_accounts = _flag_action("blocked", True, "Block", "Blocked", "already blocked")
    unblock_accounts = _flag_action("blocked", False, "Unblock", "Unblocked", "not blocked")


def _set_flag(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    field: str,
    value: bool,
    done: str,
    already: str,
) -> int:
    """Set a boolean on every selected row that full_clean accepts, one save per row, and say
    what was changed, what already was, and what was refused and why. Returns the changed count."""
    changed: list[models.Model] = []
    unchanged: list[models.Model] = []
    refused: list[str] = []
    with transaction.atomic():
        for obj in queryset.order_by("pk"):
            if getattr(obj, field) == value:
                unchanged.append(obj)
                continue
            setattr(obj, field, value)
            try:
                obj.full_clean()
            except ValidationError as exc:
                refused.append(f"{obj}: {' '.join(exc.messages)}")
                continue
            obj.save()
            model_admin.log_change(request, obj, [{"changed": {"fields": [field]}}])
            changed.append(obj)
    noun = model_admin.opts.verbose_name
    plural = model_admin.opts.verbose_name_plural
    if changed:
        model_admin.message_user(
            request,
            f"{done} {_count(changed, noun, plural)}: {_names(map(str, changed))}.",
            messages.SUCCESS,
        )
    if unchanged:
        model_admin.message_user(
            request,
            f"{_count(unchanged, noun, plural)} {already}, left as "
            f"{'it was' if len(unchanged) == 1 else 'they were'}: {_names(map(str, unchanged))}.",
            messages.INFO,
        )
    for reason in refused:
        model_admin.message_user(request, f"Not changed: {reason}", messages.ERROR)
    return len(changed)


def _count(objects: list[Any], noun: str, plural: str) -> str:
    return f"{len(objects)} {noun if len(objects) == 1 else plural}"


def _names(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:NAMED_IN_MESSAGE])
    more = len(names) - NAMED_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


def _warn_if_not_forwarding(request: HttpRequest) -> None:
    if settings.RUNNERHUB_ENV != "prod":
        why = f"this is the {settings.RUNNERHUB_ENV} deployment; only production forwards"
    elif not settings.STAGING_URL:
        why = "STAGING_URL is not set here"
    else:
        return
    messages.warning(
        request, f"The staging flag has no effect yet: {why}. These jobs are served here."
    )
