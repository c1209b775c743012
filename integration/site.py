"""Site information and the token's service, for ``accel doctor``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from integration.functions import features_needing, required_functions
from integration.transport import MoodleClient


class ServiceFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    version: str = ""


class SiteInfo(BaseModel):
    """What ``core_webservice_get_site_info`` says about the site and the token (field note 20)."""

    model_config = ConfigDict(extra="ignore")

    sitename: str
    siteurl: str = ""
    release: str = ""
    version: str = ""
    userid: int
    username: str
    fullname: str = ""
    userissiteadmin: bool = False
    functions: list[ServiceFunction] = Field(default_factory=list)


def get_site_info(client: MoodleClient) -> SiteInfo:
    """Calls: core_webservice_get_site_info."""
    return SiteInfo.model_validate(client.site_info())


class MissingFunction(BaseModel):
    name: str
    needed_by: list[str]


class ServiceCheck(BaseModel):
    """The outcome of comparing the token's service with what the product calls."""

    site: SiteInfo
    missing: list[MissingFunction]

    @property
    def ok(self) -> bool:
        return not self.missing


def check_service(client: MoodleClient) -> ServiceCheck:
    """Compare the token's service functions with :func:`required_functions`.

    Calls: core_webservice_get_site_info.
    """
    site = get_site_info(client)
    available = {function.name for function in site.functions}
    missing = [
        MissingFunction(name=name, needed_by=features_needing(name))
        for name in required_functions()
        if name not in available
    ]
    return ServiceCheck(site=site, missing=missing)
