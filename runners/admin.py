"""The runner pods' settings in the admin: each pool's resources and template, and the
templates of single mappings. Templates are validated against the Kubernetes schema on save."""
from django.contrib import admin

from runners.models import MappingPodTemplate, RunnerPool


@admin.register(RunnerPool)
class RunnerPoolAdmin(admin.ModelAdmin):
    list_display = (
        "pool", "cpu_request", "cpu_limit", "memory_request", "memory_limit",
        "active_deadline_seconds", "has_template", "updated_at",
    )  # fmt: skip
    search_fields = ("pool", "note")
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("pool", "note")}),
        ("Resources", {"fields": (("cpu_request", "cpu_limit"), ("memory_request", "memory_limit"))}),
        ("Pod", {"fields": ("active_deadline_seconds", "pod_template", "updated_at")}),
    )

    @admin.display(boolean=True, description="template")
    def has_template(self, pool: RunnerPool) -> bool:
        return bool(pool.pod_template.strip())


@admin.register(MappingPodTemplate)
class MappingPodTemplateAdmin(admin.ModelAdmin):
    list_display = ("mapping", "updated_at")
    list_select_related = ("mapping",)
    search_fields = ("mapping__label", "mapping__pool")
    autocomplete_fields = ("mapping",)
    readonly_fields = ("updated_at",)
