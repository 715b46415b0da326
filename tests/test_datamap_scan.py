"""``privacy datamap scan`` drafts the demo shop's data map from the live database."""

from __future__ import annotations

import yaml

from privacy_service.datamap.scan import scan
from privacy_service.demo import seed


def test_scan_drafts_the_demo_shop(app, rt, session, runner, tmp_path):
    seed(session, rt.sources["shop"], customers=5, browsing_per_customer=5)
    result = runner.invoke(args=["datamap", "scan", "--source", "shop"])
    assert result.exit_code == 0, result.output
    draft = yaml.safe_load(result.output)["sources"]["shop"]
    assert draft["url_env"] == "PRIVACY_SHOP_DATABASE_URL"
    assert draft["identity"] == {
        "table": "customers",
        "column": "id",
        "contacts": {"email": "email", "phone": "phone"},
    }
    truth = rt.policies.datamap.sources["shop"]
    assert set(truth.tables) <= set(draft["tables"]), "every table of the data map found"
    total = right = 0
    for table in truth.tables.values():
        drafted = draft["tables"][table.name]
        if table.link_column:
            assert drafted["link"]["column"] == table.link_column
            assert drafted["link"]["references"] == f"{table.parent_table}.{table.parent_column}"
        for field in table.fields:
            total += 1
            right += drafted["fields"].get(field.name, {}).get("category") == field.category
    print(f"categories right: {right} of {total}")
    assert total >= 70 and right / total >= 0.9, f"{right} of {total} categories right"


def test_the_draft_loads_as_a_data_map(app, rt, session, tmp_path):
    from privacy_service.datamap.scan import to_yaml
    from privacy_service.policies import load_policies

    seed(session, rt.sources["shop"], customers=3, browsing_per_customer=2)
    folder = tmp_path / "drafted"
    folder.mkdir()
    text = to_yaml(scan(rt.sources["shop"]), source="shop", url_env="PRIVACY_SHOP_DATABASE_URL")
    (folder / "datamap.yaml").write_text(text, encoding="utf-8")
    policies = load_policies(folder)
    assert "orders" in policies.datamap.sources["shop"].tables
    assert "# seed_info: no foreign key leads to customers" in text
    assert "id_number" not in text or "sensitive: true" in text


def test_scan_by_url_env_on_a_shop_unlike_the_demo(app, runner, tmp_path, monkeypatch):
    from shopfix import fill
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'members.db'}"
    engine = create_engine(url)
    fill(engine)
    engine.dispose()
    monkeypatch.setenv("PRIVACY_SOURCE_CRM_URL", url)
    result = runner.invoke(
        args=["datamap", "scan", "--url-env", "PRIVACY_SOURCE_CRM_URL", "--name", "crm"]
    )
    assert result.exit_code == 0, result.output
    assert "postgres" not in result.output and url not in result.output, "never the URL"
    crm = yaml.safe_load(result.output)["sources"]["crm"]
    assert crm["identity"] == {
        "table": "members",
        "column": "member_no",
        "contacts": {"email": "mail", "phone": "mobile"},
    }
    tables = crm["tables"]
    assert tables["purchase_lines"]["link"] == {
        "column": "purchase_id",
        "references": "purchases.id",
    }
    assert tables["member_addresses"]["fields"]["line1"]["category"] == "addresses"
    assert tables["purchases"]["fields"]["total"] == {"category": "orders", "type": "money"}
    assert tables["members"]["fields"]["mobile"]["sensitive"] is True


def test_scan_refuses_without_a_target(runner):
    result = runner.invoke(args=["datamap", "scan"])
    assert result.exit_code != 0 and "--source NAME or --url-env VAR" in result.output
