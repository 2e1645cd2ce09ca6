//! Typed data flow: a dependent receives a reference to its dependency's output, services in
//! different modules depend on each other by name, and each service sees the run's request.

mod common;

use std::convert::Infallible;

use common::request;
use orch::prelude::*;

/// What is being shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub sku: String,
    pub quantity: u32,
    pub unit_cents: u64,
}

/// Billing: produces an invoice that is neither `Clone` nor `Copy`.
mod billing {
    use super::*;

    /// Deliberately not `Clone`: it can only reach its dependents by reference.
    #[derive(Debug, PartialEq)]
    pub struct Invoice {
        pub lines: Vec<String>,
        pub total_cents: u64,
    }

    #[service]
    pub async fn invoice(ctx: &Context<Order>) -> Result<Invoice, Infallible> {
        let order = ctx.payload();
        Ok(Invoice {
            lines: vec![format!("{} x {}", order.quantity, order.sku)],
            total_cents: u64::from(order.quantity) * order.unit_cents,
        })
    }
}

/// Shipping: two services in another module that both need the invoice.
mod shipping {
    use super::billing::Invoice;
    use super::*;

    /// What a dependent saw of the invoice: its address and its total.
    #[derive(Debug, PartialEq)]
    pub struct Seen {
        pub invoice_at: usize,
        pub total_cents: u64,
    }

    #[service(depends_on = [invoice])]
    pub async fn label(_ctx: &Context<Order>, invoice: &Invoice) -> Result<Seen, Infallible> {
        Ok(Seen {
            invoice_at: std::ptr::from_ref(invoice) as usize,
            total_cents: invoice.total_cents,
        })
    }

    #[service(depends_on = [invoice])]
    pub async fn customs(_ctx: &Context<Order>, invoice: &Invoice) -> Result<Seen, Infallible> {
        // Yield once, so that the two readers are interleaved.
        tokio::task::yield_now().await;
        Ok(Seen {
            invoice_at: std::ptr::from_ref(invoice) as usize,
            total_cents: invoice.total_cents * 2,
        })
    }
}

/// At the crate root: needs one output from each module.
#[service(depends_on = [invoice, label, customs])]
async fn dispatch(
    ctx: &Context<Order>,
    invoice: &billing::Invoice,
    label: &shipping::Seen,
    customs: &shipping::Seen,
) -> Result<String, Infallible> {
    Ok(format!(
        "{} for {} ({}, {}, {})",
        invoice.lines.join(";"),
        ctx.tenant_id(),
        invoice.total_cents,
        label.total_cents,
        customs.total_cents
    ))
}

orchestration! {
    /// Ships an order.
    pub fulfil(Order) {
        billing::invoice,
        shipping::label,
        shipping::customs,
        dispatch,
    }
}

fn order() -> Order {
    Order {
        sku: "kbd".to_owned(),
        quantity: 3,
        unit_cents: 1_500,
    }
}

#[tokio::test]
async fn a_non_clone_output_reaches_two_dependents_by_reference() {
    let report = fulfil::orchestrate(&request(order()), &NoJournal).await;
    let outputs = report.into_result().expect("every service succeeds");

    // Both dependents saw the one invoice, at the same address: no copy was made.
    assert_eq!(outputs.label.invoice_at, outputs.customs.invoice_at);
    assert_eq!(outputs.label.total_cents, 4_500);
    assert_eq!(outputs.customs.total_cents, 9_000);
    // The invoice itself is handed back, moved out of the run.
    assert_eq!(
        outputs.invoice,
        billing::Invoice {
            lines: vec!["3 x kbd".to_owned()],
            total_cents: 4_500,
        }
    );
    assert_eq!(outputs.dispatch, "3 x kbd for tenant-1 (4500, 4500, 9000)");
}

#[tokio::test]
async fn the_report_has_one_typed_field_per_service_across_modules() {
    assert_eq!(
        fulfil::SERVICES,
        ["invoice", "label", "customs", "dispatch"]
    );
    assert_eq!(fulfil::NAME, "fulfil");

    let report = fulfil::orchestrate(&request(order()), &NoJournal).await;
    // Typed outcomes, without going through `into_result`.
    let invoice: &billing::Invoice = report.invoice.output().expect("invoice succeeded");
    assert_eq!(invoice.total_cents, 4_500);
    let label: &shipping::Seen = report.label.output().expect("label succeeded");
    assert_eq!(label.total_cents, 4_500);
    assert_eq!(report.dispatch.attempts(), 1);
    assert!(
        report
            .statuses()
            .iter()
            .all(|&(_, status)| status == orch::Status::Succeeded)
    );
}

/// What a service can see of its run through its context.
mod introspection {
    use super::*;

    #[derive(Debug, PartialEq)]
    pub struct Seen {
        pub ids: (String, String, String),
        pub payload: u32,
        pub service: &'static str,
        pub attempt: u32,
        pub max_attempts: u32,
        pub last: bool,
    }

    fn seen(ctx: &Context<u32>) -> Seen {
        Seen {
            ids: (
                ctx.event_id().to_owned(),
                ctx.tenant_id().to_owned(),
                ctx.organization_id().to_owned(),
            ),
            payload: *ctx.payload(),
            service: ctx.service(),
            attempt: ctx.attempt(),
            max_attempts: ctx.max_attempts(),
            last: ctx.is_last_attempt(),
        }
    }

    #[service]
    pub async fn once(ctx: &Context<u32>) -> Result<Seen, Infallible> {
        Ok(seen(ctx))
    }

    #[service(retry = RetryPolicy::DEFAULT.with_max_retries(2))]
    pub async fn thrice(ctx: &Context<u32>) -> Result<Seen, Infallible> {
        Ok(seen(ctx))
    }

    orchestration! {
        pub introspect(u32) { once, thrice }
    }
}

#[tokio::test]
async fn each_service_sees_the_request_its_name_and_its_attempt() {
    let request = Request::new("evt-9", "tenant-9", "org-9", 99_u32);
    let outputs = introspection::introspect::orchestrate(&request, &NoJournal)
        .await
        .into_result()
        .expect("both succeed");
    let ids = (
        "evt-9".to_owned(),
        "tenant-9".to_owned(),
        "org-9".to_owned(),
    );
    assert_eq!(
        outputs.once,
        introspection::Seen {
            ids: ids.clone(),
            payload: 99,
            service: "once",
            attempt: 1,
            max_attempts: 1,
            last: true,
        }
    );
    assert_eq!(
        outputs.thrice,
        introspection::Seen {
            ids,
            payload: 99,
            service: "thrice",
            attempt: 1,
            max_attempts: 3,
            last: false,
        }
    );
    // The request was only borrowed: the caller still has it.
    assert_eq!(request.payload, 99);
}
