//! Inventory and the confirmation sent to the customer.

use std::convert::Infallible;

use orch::prelude::*;

use crate::billing::Receipt;
use crate::order::Order;

/// Items held for an order.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    pub items: usize,
    pub warehouse: String,
}

/// Reserves the order's items. Runs at the same time as the payment.
#[service]
pub async fn inventory(ctx: &Context<Order>) -> Result<Reservation, Infallible> {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    Ok(Reservation {
        items: ctx.payload().items.len(),
        warehouse: "fra-1".to_owned(),
    })
}

/// Tells the customer: needs the payment and the reservation, so it is skipped if either fails.
#[service(depends_on = [payments, inventory])]
pub async fn notification(
    ctx: &Context<Order>,
    receipt: &Receipt,
    reservation: &Reservation,
) -> Result<String, Infallible> {
    // With `--crash`, the first run's process is killed here, while the email is being sent.
    crate::crash::point(ctx).await;
    Ok(format!(
        "emailed {}: {} items from {}, paid by {}",
        ctx.payload().customer,
        reservation.items,
        reservation.warehouse,
        receipt.transaction
    ))
}
