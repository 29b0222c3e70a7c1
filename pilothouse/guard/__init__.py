"""Guardrails: PII and secret redaction, prompt-injection detection, content policy, output
validation and tool governance. A library first (the eval harness, RAG ingestion and the CLI reuse
it); the gateway's guard stages compose it per policy."""
