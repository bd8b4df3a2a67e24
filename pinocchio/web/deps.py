"""Request dependencies shared by the routers: a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlmodel import Session

from pinocchio.core.records import MAX_ID

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id")]


def get_session(request: Request) -> Iterator[Session]:
    """A session on the app's engine; routes commit once, when the library call went well."""
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
