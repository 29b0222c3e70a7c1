"""The admin API under ``/api``: keys, traces and the guard kill switch. Every route needs a key
with the admin scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pilothouse.core.errors import (
    InvalidRequest,
    MalformedJSON,
    NotFound,
    PermissionDenied,
    PilothouseError,
    ValidationFailed,
)
from pilothouse.core.ids import new_id
from pilothouse.core.ports import TraceStore
from pilothouse.guard.killswitch import KillSwitchSync
from pilothouse.keys import KeyAuthenticator, KeyService
from pilothouse.keys.service import DEFAULT_SCOPES

TRACE_HEADER = "x-pilothouse-trace-id"
TRACE_FILTERS = ("key_id", "team_id", "model", "status", "provider", "route")
Endpoint = Callable[[Request], Awaitable[Any]]
_Body = TypeVar("_Body", bound=BaseModel)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    team: str | None = None
    scopes: list[str] = Field(default_factory=lambda: list(DEFAULT_SCOPES))
    models: list[str] | None = None
    tools: list[str] | None = None
    expires_at: datetime | None = None


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


class KillSwitchUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)


async def _parse(request: Request, model: type[_Body]) -> _Body:
    try:
        return model.model_validate(orjson.loads(await request.body()))
    except orjson.JSONDecodeError:
        raise MalformedJSON("The request body is not valid JSON.") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def create_admin_app(
    *,
    authenticator: KeyAuthenticator,
    keys: KeyService,
    traces: TraceStore,
    kill: KillSwitchSync | None = None,
) -> Starlette:
    def admin(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """Admin auth, OpenAI-shaped errors and a request id on every answer."""

        async def handle(request: Request) -> Response:
            request_id = new_id()
            try:
                principal = await authenticator.authenticate(
                    request.headers.get("authorization", "").encode() or None
                )
                if not principal.is_admin:
                    raise PermissionDenied(
                        "The admin API needs a key with the 'admin' scope.", code="admin_required"
                    )
                result = await endpoint(request)
                response = result if isinstance(result, Response) else _json(result)
            except PilothouseError as err:
                response = _json(
                    err.to_dict(), err.status, dict((k.decode(), v.decode()) for k, v in err.headers())
                )
            response.headers[TRACE_HEADER] = request_id
            return response

        return handle

    async def list_keys(request: Request) -> Any:
        include = request.query_params.get("include_revoked", "false").lower() in ("1", "true", "yes")
        return {"object": "list", "data": [k.public() for k in await keys.list(include_revoked=include)]}

    async def create_key(request: Request) -> Any:
        spec = await _parse(request, NewKey)
        secret, record = await keys.create(
            spec.name,
            team=spec.team,
            scopes=spec.scopes,
            models=spec.models,
            expires_at=spec.expires_at,
            tools=spec.tools,
        )
        return _json({"secret": secret, "key": record.public()}, status=201)

    async def revoke_key(request: Request) -> Any:
        return {"revoked": True, "key": (await keys.revoke(request.path_params["key_id"])).public()}

    async def list_traces(request: Request) -> Any:
        q = request.query_params
        try:
            limit = max(1, min(int(q.get("limit", "50")), 500))
        except ValueError:
            raise InvalidRequest("limit must be an integer", param="limit") from None
        filters = {
            name: q.get(name) for name in ("key_id", "team_id", "model", "status", "provider", "route")
        }
        records = await traces.list_traces(limit=limit, before=q.get("before"), filters=filters)
        data = [r.model_dump(mode="json", exclude={"messages", "output", "spans"}) for r in records]
        return {"object": "list", "data": data, "next_before": data[-1]["trace_id"] if data else None}

    async def get_trace(request: Request) -> Any:
        record = await traces.get_trace(request.path_params["trace_id"])
        if record is None:
            raise NotFound(f"No trace with id '{request.path_params['trace_id']}'.", code="trace_not_found")
        return record.model_dump(mode="json")

    def kill_switch() -> KillSwitchSync:
        if kill is None:
            raise NotFound("This gateway has no kill switch.", code="no_kill_switch")
        return kill

    async def get_kill(request: Request) -> Any:
        """What is off (``routes``, ``tools``): the config's plus the ones switched at run time."""
        sync = kill_switch()
        (routes, tools), (set_routes, set_tools) = sync.configured, sync.switched
        return {
            "routes": sorted(routes | set_routes),
            "tools": sorted(tools | set_tools),
            "switched": {"routes": sorted(set_routes), "tools": sorted(set_tools)},
            "configured": {"routes": sorted(routes), "tools": sorted(tools)},
        }

    async def put_kill(request: Request) -> Any:
        """Replace the run-time switches, for every replica sharing the store (config's stay on)."""
        update = await _parse(request, KillSwitchUpdate)
        await kill_switch().set(set(update.routes), set(update.tools))
        return await get_kill(request)

    async def not_found(request: Request) -> Response:
        err = NotFound(f"Unknown request URL: {request.method} {request.url.path}.", code="unknown_url")
        return _json(err.to_dict(), 404, {TRACE_HEADER: new_id()})

    routes = [
        Route("/api/keys", admin(list_keys), methods=["GET"]),
        Route("/api/keys", admin(create_key), methods=["POST"]),
        Route("/api/keys/{key_id}", admin(revoke_key), methods=["DELETE"]),
        Route("/api/traces", admin(list_traces), methods=["GET"]),
        Route("/api/traces/{trace_id}", admin(get_trace), methods=["GET"]),
        Route("/api/guard/kill", admin(get_kill), methods=["GET"]),
        Route("/api/guard/kill", admin(put_kill), methods=["PUT"]),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(404, lambda request, exc: not_found(request))
    app.add_exception_handler(405, lambda request, exc: not_found(request))
    return app
