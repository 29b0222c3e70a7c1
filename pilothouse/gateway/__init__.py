"""The HTTP request pipeline: a raw ASGI hot path for ``/v1`` composed of small stages."""
