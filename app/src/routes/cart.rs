//! The caller's cart: read it, add a product, change or remove a line; stored outside the process.

use axum::{
    Json as AxumJson, Router,
    extract::State,
    routing::{get, patch, post},
};
use serde::Deserialize;

use crate::{
    auth::AuthUser,
    error::AppError,
    extract::{Json, PathSegment},
    pricing::{CartView, cart_view},
    state::AppState,
    store::{CartChange, MAX_CART_LINES, MAX_QUANTITY},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(show))
        .route("/cart/items", post(add))
        .route("/cart/items/{product_id}", patch(set).delete(remove))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddItem {
    product_id: u32,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetQuantity {
    quantity: i64,
}

/// Signed so `-1` gets the same clear range error as `1000`, not a type error.
fn quantity(value: i64) -> Result<u32, AppError> {
    u32::try_from(value)
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            AppError::invalid(
                "invalid_quantity",
                format!("quantity must be between 1 and {MAX_QUANTITY}, got {value}"),
            )
        })
}

/// The product id from the path; one that is not a number is as unknown as one not in the catalog.
fn known_product(state: &AppState, id: &str) -> Result<u32, AppError> {
    id.parse()
        .ok()
        .filter(|id| state.catalog.product(*id).is_some())
        .ok_or_else(|| AppError::NotFound(format!("no product with id {id:?}")))
}

fn respond(state: &AppState, change: CartChange, product: u32) -> Result<AxumJson<CartView>, AppError> {
    match change {
        CartChange::Updated(cart) => Ok(AxumJson(cart_view(&state.catalog, &cart))),
        CartChange::NotInCart => Err(AppError::NotFound(format!(
            "product {product} is not in the cart"
        ))),
        CartChange::QuantityLimit { current } => Err(AppError::invalid(
            "invalid_quantity",
            format!(
                "the cart already holds {current} of product {product}; at most {MAX_QUANTITY} are allowed"
            ),
        )),
        CartChange::CartFull => Err(AppError::Conflict {
            code: "cart_full",
            message: format!("a cart holds at most {MAX_CART_LINES} different products"),
        }),
    }
}

async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<AxumJson<CartView>, AppError> {
    let cart = state.store.cart(&user).await?;
    Ok(AxumJson(cart_view(&state.catalog, &cart)))
}

async fn add(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(body): Json<AddItem>,
) -> Result<AxumJson<CartView>, AppError> {
    let product = body.product_id;
    if state.catalog.product(product).is_none() {
        return Err(AppError::NotFound(format!("no product with id {product}")));
    }
    let quantity = quantity(body.quantity)?;
    let change = state.store.add_item(&user, product, quantity).await?;
    respond(&state, change, product)
}

async fn set(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathSegment(id): PathSegment,
    Json(body): Json<SetQuantity>,
) -> Result<AxumJson<CartView>, AppError> {
    let product = known_product(&state, &id)?;
    let quantity = quantity(body.quantity)?;
    let change = state.store.set_item(&user, product, quantity).await?;
    respond(&state, change, product)
}

async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathSegment(id): PathSegment,
) -> Result<AxumJson<CartView>, AppError> {
    let product = known_product(&state, &id)?;
    let change = state.store.remove_item(&user, product).await?;
    respond(&state, change, product)
}
