//! `[[crm.fields]]` and `[[crm.tag_rules]]` against the portal's `crm.<type>.fields`: `check`
//! names the rule whose field is missing or of the wrong type, or whose value fits no item.

mod common;

use common::{command, output, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_rule_of_a_missing_field_a_wrong_type_and_a_misfit_value() {
    let env = Env::new().await;
    env.portal
        .add_user_field("lead", "UF_CRM_SIZE", "enumeration", &["S", "M"]);
    env.portal
        .add_user_field("lead", "UF_CRM_SCAN", "file", &[]);
    let file = env.write_config(
        "lead",
        r#"
[[crm.fields]]
from = "client.custom_fields.size"
to = "UF_CRM_SIZE"

[[crm.fields]]
from = "client.custom_fields.scan"
to = "UF_CRM_SCAN"

[[crm.fields]]
from = "client.custom_fields.city"
to = "UF_CRM_CITY"

[[crm.tag_rules]]
tag = "VIP"
set = { UF_CRM_SIZE = "xl", OPENED = "Y" }
"#,
    );
    let (out, text) = output(command(&file, &["check"]));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "ok   crm.fields[0].to: UF_CRM_SIZE is a field of the lead of type enumeration"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL crm.fields[1].to: UF_CRM_SCAN of the lead is of type file (crm.lead.fields)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL crm.fields[2].to: UF_CRM_CITY is not a field of the lead (crm.lead.fields)"
        ),
        "{text}"
    );
    assert!(
        text.contains("FAIL crm.tag_rules[0].set.UF_CRM_SIZE: \"xl\" does not fit UF_CRM_SIZE of the lead: no list item has it (items: S, M)"),
        "{text}"
    );
    assert!(
        text.contains("ok   crm.tag_rules[0].set.OPENED: \"Y\" fits OPENED of the lead"),
        "{text}"
    );
}
