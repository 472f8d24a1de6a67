"""generator.deploy.regional: the S3 prefix list of the deploy region, looked up in that region
(moto serves describe-prefix-lists with a distinct com.amazonaws.<region>.s3 list per region)."""

from __future__ import annotations

import argparse

import pytest
from botocore.exceptions import EndpointConnectionError

from generator.deploy import regional
from generator.prices import regions

NO_ENDPOINT = argparse.Namespace(endpoint_url=None, region=None)


@pytest.fixture
def aws(moto_aws: None) -> None:
    """Every AWS call served by moto in process (tests/conftest.py)."""


def moto_answer(region: str) -> str:
    """What describe-prefix-lists itself says for the region's S3 list (the oracle)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=region)
    [found] = [
        p for p in ec2.describe_prefix_lists()["PrefixLists"] if p["PrefixListName"] == f"com.amazonaws.{region}.s3"
    ]
    return found["PrefixListId"]


def test_each_region_gets_its_own_s3_prefix_list(aws) -> None:
    ids = {r: regional.s3_prefix_list_id(r, NO_ENDPOINT) for r in regions()}
    assert set(ids) >= {"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"}
    for region, pl in ids.items():
        assert pl == moto_answer(region)
        assert regional.PREFIX_LIST_ID.match(pl)
    assert len(set(ids.values())) == len(ids)  # one region's value is wrong in every other


def test_cli_prints_the_id(aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert regional.main(["s3-prefix-list", "--region", "eu-west-1"]) == 0
    assert capsys.readouterr().out == moto_answer("eu-west-1") + "\n"


def test_cli_region_defaults_to_aws_region(
    aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
    assert regional.main(["s3-prefix-list"]) == 0
    assert capsys.readouterr().out.strip() == moto_answer("ap-southeast-1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["s3-prefix-list"], "error: no region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION"),
        (["s3-prefix-list", "--region", "mars"], "error: 'mars' is not an AWS region name (like us-east-1)"),
    ],
)
def test_cli_usage_errors_are_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert regional.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == message


class FakeEc2:
    def __init__(self, lists: list[dict] | Exception) -> None:
        self.lists = lists

    def describe_prefix_lists(self, Filters: list[dict]) -> dict:  # noqa: N803 - the boto3 keyword
        assert Filters == [{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}]
        if isinstance(self.lists, Exception):
            raise self.lists
        return {"PrefixLists": self.lists}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], "region us-east-1 has no prefix list named com.amazonaws.us-east-1.s3"),
        (
            [
                {"PrefixListId": "pl-11111111", "PrefixListName": "com.amazonaws.us-east-1.s3"},
                {"PrefixListId": "pl-22222222", "PrefixListName": "com.amazonaws.us-east-1.s3"},
            ],
            "region us-east-1 has 2 (pl-11111111, pl-22222222) prefix list named com.amazonaws.us-east-1.s3",
        ),
        (
            [{"PrefixListId": "pl-63a5400a", "PrefixListName": "com.amazonaws.us-east-1.dynamodb"}],
            "region us-east-1 has no prefix list named com.amazonaws.us-east-1.s3",
        ),
        (
            [{"PrefixListId": "prefix-1", "PrefixListName": "com.amazonaws.us-east-1.s3"}],
            "com.amazonaws.us-east-1.s3 in us-east-1 has the ID 'prefix-1', which S3PrefixListId does not accept",
        ),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"),
            "cannot look up com.amazonaws.us-east-1.s3 in us-east-1: Could not connect to the endpoint URL: "
            '"http://127.0.0.1:9/"',
        ),
    ],
)
def test_an_answer_that_is_not_exactly_one_valid_list_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: list[dict] | Exception, message: str
) -> None:
    monkeypatch.setattr(regional, "client", lambda service, args=None, **kw: FakeEc2(answer))
    with pytest.raises(regional.RegionalError) as caught:
        regional.s3_prefix_list_id("us-east-1", NO_ENDPOINT)
    assert str(caught.value) == message
    assert regional.main(["s3-prefix-list", "--region", "us-east-1"]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
