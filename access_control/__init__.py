"""access control package."""
