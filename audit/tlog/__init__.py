"""Transparency-log primitives: canonical JSON, RFC 6962 Merkle trees and proofs, signed notes.

Nothing here knows Vigil's tables or Flask: it is the part an outside verifier could reuse.
"""
