"""Connecting an operator's own shop: what the operator writes, checks and starts.

A data map is all an operator needs (the other policy files fall back to the shipped ones);
``privacy datamap check`` names the file, line, source and column of a problem and advises the
index each contact lookup needs; a source without its URL stops start-up; the demo seed never
writes into an operator's shop.
"""

from __future__ import annotations

import pytest
from connectfix import rt_of, submit_and_verify
from shopfix import DATAMAP, fill, members, write_policies
from sqlalchemy import select

from privacy_service.requests.models import DataRequest


@pytest.mark.parametrize("shop_db", ["sqlite", "mariadb"], indirect=True)
def test_datamap_check_names_file_line_source_and_contact_column(shop_app, shop_db, runner_for):
    from sqlalchemy import create_engine, text

    ok = runner_for(shop_app).invoke(args=["datamap", "check"])
    assert ok.exit_code == 0, ok.output
    assert "source crm: reachable through PRIVACY_SOURCE_CRM_URL; contacts email: mail" in ok.output
    assert "erasure.yaml not in" in ok.output, "says which policy files fell back to defaults"
    engine = create_engine(shop_db.url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE members DROP COLUMN mobile"))
    engine.dispose()
    broken = runner_for(shop_app).invoke(args=["datamap", "check"])
    assert broken.exit_code == 1
    assert (
        "datamap.yaml:3: source 'crm': members.mobile: no such column (phone contact column)"
        in (broken.output)
    )


def test_datamap_check_says_when_a_source_cannot_be_reached(make_app, tmp_path, monkeypatch):
    from privacy_service.cli import main

    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", "mysql+pymysql://root@127.0.0.1:1/nothing")
    app = make_app(policies_dir=write_policies(tmp_path / "operator"))
    result = app.test_cli_runner().invoke(main, ["datamap", "check"])
    assert result.exit_code == 1
    assert "datamap.yaml:3: source 'crm': cannot connect through PRIVACY_SOURCE_CRM_URL" in (
        result.output
    )
    assert "127.0.0.1:1" not in result.output, "never the URL (it may carry credentials)"


def test_a_source_without_its_url_stops_start_up_clearly(make_app, tmp_path, monkeypatch):
    from privacy_service.config import ConfigError

    monkeypatch.delenv("PRIVACY_SOURCE_CRM_URL", raising=False)
    with pytest.raises(ConfigError) as exc:
        make_app(policies_dir=write_policies(tmp_path / "operator"))
    message = str(exc.value)
    assert "datamap.yaml:3: source 'crm'" in message
    assert "PRIVACY_SOURCE_CRM_URL is not set" in message


@pytest.mark.parametrize("shop_db", ["sqlite"], indirect=True)
def test_demo_seed_skips_an_operators_shop(shop_app, shop_db, runner_for):
    from sqlalchemy import create_engine, func

    result = runner_for(shop_app).invoke(args=["demo", "seed", "--customers", "2"])
    assert result.exit_code == 0, "make run goes on to serve the operator's shop"
    assert "demo seed skipped" in result.output and "not the demo's" in result.output
    engine = create_engine(shop_db.url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(members)).scalar() == 3
        assert "customers" not in __import__("sqlalchemy").inspect(conn).get_table_names()
    engine.dispose()


def test_demo_seed_refuses_production(make_app, runner_for):
    app = make_app(env="production")
    result = runner_for(app).invoke(args=["demo", "seed", "--customers", "2"])
    assert result.exit_code == 1 and "refused" in result.output
    from privacy_service.demo import shop_is_seeded

    assert not shop_is_seeded(app.extensions["privacy"].sources["shop"])


def test_demo_seed_never_writes_into_a_database_that_is_not_the_demos(
    make_app, runner_for, tmp_path
):
    """Even with the demo's data map, a shop database holding other tables is left alone."""
    from sqlalchemy import create_engine

    from privacy_service.demo import shop_schema

    url = f"sqlite:///{tmp_path / 'real-shop.db'}"
    app = make_app(shop_database_url=url)
    engine = create_engine(url)
    shop_schema.metadata.drop_all(engine)  # the test fixture made the demo's empty tables
    fill(engine)
    engine.dispose()
    result = runner_for(app).invoke(args=["demo", "seed", "--customers", "2"])
    assert result.exit_code == 0 and "already holds tables that are not the demo's" in result.output


def test_operator_policies_need_only_a_datamap(tmp_path):
    from privacy_service.policies import load_policies

    policies = load_policies(write_policies(tmp_path / "operator"))
    assert set(policies.fallbacks) == {
        "categories.yaml",
        "request_policies.yaml",
        "field_labels.yaml",
        "calendar",
        "erasure.yaml",
        "retention.yaml",
    }
    assert policies.retention.rules == () and policies.erasure.blockers == ()
    assert policies.calendar.is_known(2025), "the shipped calendar sources"


def test_a_minimal_data_map_loads(tmp_path):
    """Only what the contract names, categories and columns: titles and types are optional."""
    from privacy_service.policies import load_policies

    minimal = (
        "sources:\n"
        "  shop:\n"
        "    url_env: PRIVACY_SOURCE_SHOP_URL\n"
        "    identity: {table: customers, column: id, contacts: {email: email, phone: phone}}\n"
        "    tables:\n"
        "      customers:\n"
        "        fields:\n"
        "          email: {category: account, type: email}\n"
        "          nickname: {category: account}\n"
    )
    policies = load_policies(write_policies(tmp_path / "minimal", minimal))
    shop = policies.datamap.sources["shop"]
    assert shop.title == {"zh-CN": "shop", "en": "shop"}
    assert [f.type for f in shop.tables["customers"].fields] == ["email", "text"]


def _advice(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ADVICE: ")]


def test_datamap_check_advises_the_index_each_contact_lookup_needs(
    shop_app, shop_db, make_app, smtp, runner_for, tmp_path
):
    """No index serves the contact columns: check says so and gives the statement; once it is
    run (on MariaDB: a generated column declared as identity.lookup), the advice is gone and a
    customer is still found."""
    from sqlalchemy import create_engine, text

    first = runner_for(shop_app).invoke(args=["datamap", "check"])
    assert first.exit_code == 0, "advice, not a failure"
    advice = _advice(first.output)
    assert len(advice) == 2, first.output
    assert "members.mail (email contact column): no index" in advice[0]
    assert "members.mobile (phone contact column): no index" in advice[1]
    engine = create_engine(shop_db.url)
    with engine.begin() as conn:
        for line in advice:
            statement = line.split("reads the whole table: ", 1)[1].partition("; then")[0]
            conn.execute(text(statement))
    engine.dispose()
    app = shop_app
    if shop_db.backend == "mariadb":
        assert "PERSISTENT" in advice[0] and "identity.lookup: {email: mail_lookup}" in advice[0]
        lookup = "lookup: {email: mail_lookup, phone: mobile_lookup},\n                   "
        datamap = DATAMAP.replace("close: {column", lookup + "close: {column")
        app = make_app(policies_dir=write_policies(tmp_path / "with-lookup", datamap))
    again = runner_for(app).invoke(args=["datamap", "check"])
    assert again.exit_code == 0, again.output
    assert _advice(again.output) == [], again.output
    client = app.test_client()
    rid, _token = submit_and_verify(app, client, smtp, email=" LI.NA@example.com")
    with app.app_context():
        accounts = rt_of(app).db.session.get(DataRequest, rid).accounts
    assert sorted(a["key"] for a in accounts if a["source"] == "crm") == ["M-001", "M-002"]
    rid, _token = submit_and_verify(app, client, smtp, phone="139 1234 5678")
    with app.app_context():
        accounts = rt_of(app).db.session.get(DataRequest, rid).accounts
    assert [a["key"] for a in accounts if a["source"] == "crm"] == ["M-001"]
