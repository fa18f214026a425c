"""Intake: web reports, public notices, cases, sealed evidence, the taxonomy."""
