"""The append-only, tamper-evident audit log: the lowest layer, imported by `access`,
importing neither `access` nor the console.

`events`, `vocabulary` and `text` (what an event may say), `canonical` (its pinned encoding), `log`
(append, in the caller's transaction), `schema` and `engine` (tables and connections), `sealer`,
`merkle`, `tree` and `checkpoint` (the RFC 6962 tree and its signed checkpoints), `statements`
(the sealer's signed statements of what it saw committed, for the unsealed window),
`verification/` (the verifier itself; `verify` keeps its old import paths), `database`,
`event_hashing` and `bundle` (verification, live and offline), `proof` (inclusion
proofs), `proved` (reports whose rows cite events, with a proof of each, verified offline),
and the auditors' reads: `query`, `timeline`, `anomalies`, `export_stream`, `status`.
"""

__all__ = [
    "anomalies", "bundle", "canonical", "checkpoint", "database", "engine", "event_hashing",
    "events", "export_stream", "log", "merkle", "proof", "proved", "query", "schema", "sealer",
    "settings", "statements", "status", "text", "timeline", "tree", "verification", "verify",
    "vocabulary",
]
