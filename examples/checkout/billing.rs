//! Payments, against a flaky gateway.

use std::fmt;
use std::time::Duration;

use orch::prelude::*;

use crate::order::Order;

/// The gateway declines this amount, as test card numbers do.
pub const DECLINED_AMOUNT: u64 = 666;

/// Proof of payment.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    pub transaction: String,
    pub amount_cents: u64,
}

/// Why a charge failed.
#[derive(Debug)]
pub enum PaymentError {
    /// The gateway did not answer in time: worth retrying.
    GatewayTimeout,
    /// The card was declined: retrying cannot help.
    Declined { reason: &'static str },
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentError::GatewayTimeout => f.write_str("payment gateway timed out"),
            PaymentError::Declined { reason } => write!(f, "card declined: {reason}"),
        }
    }
}

impl std::error::Error for PaymentError {}

impl Retryable for PaymentError {
    fn is_permanent(&self) -> bool {
        matches!(self, PaymentError::Declined { .. })
    }
}

/// Up to 4 attempts, 20 ms apart at first, doubling, with ±20% jitter.
const PAYMENT_RETRIES: RetryPolicy = RetryPolicy::DEFAULT
    .with_max_retries(3)
    .with_initial_delay(Duration::from_millis(20));

/// Charges the order. The gateway times out on the first two attempts; an attempt that hangs
/// is given up after 2 s.
#[service(retry = PAYMENT_RETRIES, timeout = Duration::from_secs(2))]
pub async fn payments(ctx: &Context<Order>) -> Result<Receipt, PaymentError> {
    let order = ctx.payload();
    if order.amount_cents == DECLINED_AMOUNT {
        return Err(PaymentError::Declined {
            reason: "insufficient funds",
        });
    }
    if ctx.attempt() < 3 {
        return Err(PaymentError::GatewayTimeout);
    }
    Ok(Receipt {
        transaction: format!("txn-{}-{}", order.id, ctx.attempt()),
        amount_cents: order.amount_cents,
    })
}
