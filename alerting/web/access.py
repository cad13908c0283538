"""Routes of users, roles and keys: the key-minting API and the web UI at ``/ui/``."""

from __future__ import annotations

from fastapi import APIRouter

from alerting.web.figures import router as figures_router
from alerting.web.keys import router as keys_router
from alerting.web.ui import router as ui_router

router = APIRouter()
router.include_router(keys_router)
router.include_router(ui_router)
router.include_router(figures_router)
