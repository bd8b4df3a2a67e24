"""The HTTP API for the platform's backend (API key, JSON): viewers' reports and streamers'
appeals come in here, the rooms the fleet follows are added and removed as they go live, and
shops' facts and streams' link changes are put here for the promise checks. The bodies are
checked by pydantic, then by the library, which gives the one-line reasons (unknown stream, bad
label, a time past the stream's end, a price that is not a number...)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from pinocchio.core.errors import InputError, NotFound
from pinocchio.core.records import Feed
from pinocchio.core.urls import live_url_problem
from pinocchio.facts.catalog import link_stream, load_shop, save_shop
from pinocchio.facts.shop import binding_from_data, shop_from_data
from pinocchio.moderation.appeals import file_appeal
from pinocchio.moderation.reports import ReportRequest
from pinocchio.store import fleet as fleet_store
from pinocchio.web.deps import MAX_ID, SessionDep

router = APIRouter(prefix="/api/v1")  # behind auth.ApiGate, as every /api/ route


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(max_length=200)] = Field(
        description="The stream's id or name.")
    reporter: str = Field(max_length=200, description="The viewer's id on the platform.")
    at: float | str = Field(description="Seconds into the stream, or an ISO 8601 wall time with its offset.")
    label: str | None = None
    comment: str = ""
    key: str | None = Field(default=None, max_length=200,
                            description="An idempotency key: sent again, it is answered with the report it made.")


class ReportOut(BaseModel):
    report_id: int
    status: str  # accepted; folded into an earlier report of the same viewer; stored (its key was, before)
    segment_ids: list[int]
    credibility: float


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    penalty_id: int = Field(ge=1, le=MAX_ID)
    streamer_id: str = Field(max_length=200)
    reason: str = Field(max_length=4000)


class AppealOut(BaseModel):
    id: int
    penalty_id: int
    streamer_id: str
    status: str
    filed_at: datetime


def validation_reason(exc: RequestValidationError) -> str:
    """pydantic's errors as one line: `at: Input should be...; label: ...`, or what was wrong with the body."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        if error.get("type") == "json_invalid":
            parts.append(f"body is not JSON ({error.get('ctx', {}).get('error', 'invalid')})")
        else:
            parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


@router.post("/reports", status_code=201, response_model=ReportOut)
async def post_report(body: ReportIn, request: Request, response: Response) -> ReportOut:
    """Queued to the intake's writer, which writes the reports waiting together; answered once committed."""
    answer = request.app.state.intake.submit(ReportRequest(stream=body.stream, reporter=body.reporter, at=body.at,
                                                           label=body.label, comment=body.comment, key=body.key))
    receipt = await asyncio.wrap_future(answer)
    if receipt.status == "stored":
        response.status_code = 200
    return ReportOut(report_id=receipt.report_id, status=receipt.status, segment_ids=list(receipt.segment_ids),
                     credibility=receipt.credibility)


@router.post("/appeals", status_code=201, response_model=AppealOut)
def post_appeal(body: AppealIn, session: SessionDep) -> AppealOut:
    appeal = file_appeal(session, penalty_id=body.penalty_id, streamer_id=body.streamer_id, reason=body.reason)
    session.commit()
    info = asdict(appeal)
    return AppealOut(**{k: info[k] for k in AppealOut.model_fields})


class FleetFeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\s/]+$",
                      description="How output, metrics and reports call the feed.")
    url: str = Field(max_length=2000, description="rtmp://, http(s)://….flv or http(s)://….m3u8")
    streamer: str | None = Field(default=None, max_length=200)
    room: str | None = Field(default=None, max_length=200)


@router.get("/fleet")
def get_fleet(session: SessionDep) -> dict:
    """The feeds the fleet follows, where each runs and how far behind live; its members."""
    return {"feeds": [fleet_store.feed_json(f) for f in fleet_store.feeds(session)],
            "members": [fleet_store.member_json(m) for m in fleet_store.members(session)]}


@router.post("/fleet/feeds", status_code=201)
def post_fleet_feed(body: FleetFeedIn, session: SessionDep, response: Response) -> dict:
    """Follow a room (a running fleet joins it within seconds); sent again, it is answered 200."""
    if problem := live_url_problem(body.url):
        raise InputError(f"url: {problem}")
    added = fleet_store.add_feeds(session, [Feed(body.name, body.url, body.streamer, body.room)])
    session.commit()
    if not added:
        response.status_code = 200
    return fleet_store.feed_json(session.get(fleet_store.FleetFeed, body.name))


@router.delete("/fleet/feeds/{name}", status_code=204)
def delete_fleet_feed(name: str, session: SessionDep) -> Response:
    """Stop following a room; its worker commits what it heard first."""
    if not fleet_store.remove_feed(session, name):
        raise NotFound(f"no feed named {name!r} is followed")
    session.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- shop facts


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: float | str = Field(description="Seconds into the stream, or an ISO 8601 wall time with its offset.")
    link: int = Field(ge=1, le=999, description="The link number the streamer says (三号链接: 3).")
    product: str = Field(min_length=1, max_length=120, description="The product's id in the shop's facts.")


class StreamLinksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop: str = Field(min_length=1, max_length=120, description="The shop the stream sells for.")
    started_at: str | None = Field(default=None, description="0 s of the stream (ISO 8601 with offset), if not live.")
    links: list[LinkIn] = Field(default=[], max_length=1000)


def _where(prefix: str):
    return lambda place: ".".join([prefix, *map(str, place)]) if place else prefix


@router.put("/shops/{shop_id}")
def put_shop(shop_id: str, body: dict, session: SessionDep, response: Response) -> dict:
    """A shop's facts, whole (the format of `shops import`'s YAML, as JSON): stored as its next
    version when they differ from its newest (201), or answered 200 when they do not."""
    if "id" in body and body["id"] != shop_id:
        raise InputError(f"body.id: {body['id']!r} is not the shop of the path ({shop_id!r})")
    shop = shop_from_data({**body, "id": shop_id}, _where("body"))
    saved = save_shop(session, shop, source="api")
    session.commit()
    response.status_code = 201 if saved.changed else 200
    return {"shop": saved.shop, "version": saved.version, "changed": saved.changed}


@router.get("/shops/{shop_id}")
def get_shop(shop_id: str, session: SessionDep, version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> dict:
    """A shop's facts at their newest version, or at `?version=N`."""
    loaded = load_shop(session, shop_id, version)
    if loaded is None:
        raise NotFound(f"no shop {shop_id!r}" + (f" at version {version}" if version else ""))
    facts, number = loaded
    return {"version": number, "facts": facts.as_json()}


@router.post("/streams/{stream}/links", status_code=201)
def post_stream_links(stream: str, body: StreamLinksIn, session: SessionDep) -> dict:
    """The stream sells for `shop`, and its links changed: each from `at` on points at a product.
    A live feed's checks use them within seconds; ones sent before are not added twice."""
    binding = binding_from_data({"stream": stream, **body.model_dump(exclude_none=True)}, _where("body"))
    added = link_stream(session, binding, source="api")
    session.commit()
    return {"stream": binding.stream, "shop": binding.shop, "added": added}
