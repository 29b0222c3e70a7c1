"""Evaluation harness: suites of cases run through the gateway, scored, compared and gated.

It talks to models only through the gateway over HTTP (so every case has a trace) and to storage
through the ``EvalStore`` port.
"""
