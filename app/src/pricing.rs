//! Turning a cart of product ids into priced lines, totals and orders, from the catalog's integer cents.

use serde::Serialize;

use crate::{
    catalog::Catalog,
    store::{Cart, Order, OrderLine},
};

/// Orders at or above this subtotal ship free.
pub const FREE_SHIPPING_FROM_CENTS: u64 = 50_00;
pub const SHIPPING_CENTS: u64 = 4_99;
pub const CURRENCY: &str = "USD";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    pub items: Vec<OrderLine>,
    pub item_count: u32,
    pub subtotal_cents: u64,
    pub currency: &'static str,
}

/// Lines in product-id order; ids the catalog does not know (none today) are left out rather than priced.
pub fn lines(catalog: &Catalog, cart: &Cart) -> Vec<OrderLine> {
    cart.iter()
        .filter_map(|(id, quantity)| {
            let product = catalog.product(*id)?;
            Some(OrderLine {
                product_id: product.id,
                sku: product.sku.clone(),
                name: product.name.clone(),
                unit_price_cents: product.price_cents,
                quantity: *quantity,
                line_total_cents: product.price_cents * u64::from(*quantity),
            })
        })
        .collect()
}

pub fn cart_view(catalog: &Catalog, cart: &Cart) -> CartView {
    let items = lines(catalog, cart);
    CartView {
        item_count: items.iter().map(|l| l.quantity).sum(),
        subtotal_cents: items.iter().map(|l| l.line_total_cents).sum(),
        items,
        currency: CURRENCY,
    }
}

/// An order for the cart, with a fresh id; shipping is free from `FREE_SHIPPING_FROM_CENTS`.
pub fn order(catalog: &Catalog, cart: &Cart) -> Order {
    let CartView {
        items,
        item_count,
        subtotal_cents,
        currency,
    } = cart_view(catalog, cart);
    let shipping_cents = if subtotal_cents >= FREE_SHIPPING_FROM_CENTS {
        0
    } else {
        SHIPPING_CENTS
    };
    Order {
        id: uuid::Uuid::new_v4().to_string(),
        created_at: jiff::Timestamp::now().to_string(),
        items,
        item_count,
        subtotal_cents,
        shipping_cents,
        total_cents: subtotal_cents + shipping_cents,
        currency: currency.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_exact_cents_and_shipping_is_free_from_the_threshold() {
        let catalog = Catalog::seeded();
        let cheap = catalog
            .products()
            .iter()
            .find(|p| p.price_cents < FREE_SHIPPING_FROM_CENTS / 3)
            .unwrap();
        let small = order(&catalog, &Cart::from([(cheap.id, 1)]));
        assert_eq!(small.subtotal_cents, cheap.price_cents);
        assert_eq!(small.total_cents, cheap.price_cents + SHIPPING_CENTS);
        let big = order(&catalog, &Cart::from([(cheap.id, 3), (1, 2)]));
        let expected = cheap.price_cents * 3 + catalog.product(1).unwrap().price_cents * 2;
        assert_eq!(
            (big.subtotal_cents, big.item_count, big.shipping_cents),
            (expected, 5, 0)
        );
        assert_eq!(big.total_cents, expected);
        assert_ne!(small.id, big.id);
    }
}
