"""Import every package's tables so SQLModel.metadata is complete (Alembic, tests)."""

import access_control.models  # noqa: F401
import audit.log_models
import audit.models  # noqa: F401
import moderation.models
import moderation.review_models  # noqa: F401
import privacy.models  # noqa: F401
