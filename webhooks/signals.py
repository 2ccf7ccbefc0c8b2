"""A saved or deleted mapping or account is stale in every process's cache: drop ours, bump the
version so that every other process reloads on its next delivery."""
import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from webhooks import config, store
from webhooks.models import Account, LabelMapping

log = logging.getLogger(__name__)


@receiver(post_save, sender=LabelMapping)
@receiver(post_delete, sender=LabelMapping)
@receiver(post_save, sender=Account)
@receiver(post_delete, sender=Account)
def config_changed(**kwargs: Any) -> None:
    config.invalidate()
    # Only after the commit: a process that reloads on the new version must see the new rows.
    transaction.on_commit(_bump)


def _bump() -> None:
    config.invalidate()
    try:
        store.bump_config_version()
    except store.StoreUnavailable:
        # Other processes still reload within MAPPING_CACHE_SECONDS.
        log.error("config.version_bump_failed")
