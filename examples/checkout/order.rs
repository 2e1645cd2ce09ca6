//! The payload of a checkout.

/// An order to check out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Order {
    pub id: String,
    pub customer: String,
    pub items: Vec<String>,
    pub amount_cents: u64,
}

impl Order {
    pub fn sample(id: &str, amount_cents: u64) -> Self {
        Order {
            id: id.to_owned(),
            customer: "cust-42".to_owned(),
            items: vec!["keyboard".to_owned(), "cable".to_owned()],
            amount_cents,
        }
    }
}
