//! The Redis store shared by every replica; each change is one Lua script, so it is atomic by construction.

use std::time::Duration;

use redis::{
    AsyncCommands, Client, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{
    Cart, CartChange, CheckoutSnapshot, Commit, IDEMPOTENCY_TTL_SECONDS, MAX_CART_LINES, MAX_QUANTITY, Order,
    Store, StoreError, StoreFuture,
};

/// Idle carts are dropped after 30 days so abandoned carts do not pile up forever.
const CART_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;
const PREFIX: &str = "herd:shop";

/// KEYS: cart hash, cart version. ARGV: mode (add|set|del), product, quantity, max quantity, max lines, ttl.
/// Returns `[status, current quantity, product, quantity, ...]` with the cart after the change.
const CHANGE_CART: &str = r"
local mode, product, quantity = ARGV[1], ARGV[2], tonumber(ARGV[3])
local current = tonumber(redis.call('HGET', KEYS[1], product) or '0')
local status = 'ok'
if mode == 'add' then
  if current + quantity > tonumber(ARGV[4]) then
    status = 'limit'
  elseif current == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
    status = 'full'
  else
    redis.call('HSET', KEYS[1], product, current + quantity)
  end
elseif current == 0 then
  status = 'missing'
elseif mode == 'set' then
  redis.call('HSET', KEYS[1], product, quantity)
else
  redis.call('HDEL', KEYS[1], product)
end
if status == 'ok' then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, tostring(current))
table.insert(reply, 1, status)
return reply
";

/// KEYS: cart hash, cart version, new order, order list, idempotency key (or a dummy when unused).
/// ARGV: use idempotency (0|1), expected version, order JSON, order id, order key prefix, idempotency ttl.
/// Returns `[status, replayed order JSON]`.
const COMMIT_ORDER: &str = r"
if ARGV[1] == '1' then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    return {'replay', redis.call('GET', ARGV[5] .. existing) or ''}
  end
end
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[2]) then
  return {'conflict', ''}
end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('LPUSH', KEYS[4], ARGV[4])
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[2])
if ARGV[1] == '1' then
  redis.call('SET', KEYS[5], ARGV[4], 'EX', ARGV[6])
end
return {'created', ''}
";

pub struct RedisStore {
    connection: ConnectionManager,
    change_cart: Script,
    commit_order: Script,
}

impl RedisStore {
    /// Prepares a reconnecting connection without connecting, so the shop starts (not ready) while Redis
    /// is down and becomes ready once it is reachable.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        Ok(RedisStore {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            change_cart: Script::new(CHANGE_CART),
            commit_order: Script::new(COMMIT_ORDER),
        })
    }

    async fn change(
        &self,
        user: &str,
        mode: &str,
        product: u32,
        quantity: u32,
    ) -> Result<CartChange, StoreError> {
        let mut connection = self.connection.clone();
        let reply: Vec<String> = self
            .change_cart
            .key(cart_key(user))
            .key(version_key(user))
            .arg(mode)
            .arg(product)
            .arg(quantity)
            .arg(MAX_QUANTITY)
            .arg(MAX_CART_LINES)
            .arg(CART_TTL_SECONDS)
            .invoke_async(&mut connection)
            .await?;
        let (status, current, pairs) = match reply.as_slice() {
            [status, current, pairs @ ..] => (status.as_str(), current, pairs),
            _ => return Err(StoreError::Corrupt("cart script returned too little".into())),
        };
        let current = current
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("quantity {current:?}")))?;
        Ok(match status {
            "ok" => CartChange::Updated(parse_cart(pairs.chunks(2).map(|kv| (&kv[0], kv.get(1))))?),
            "limit" => CartChange::QuantityLimit { current },
            "full" => CartChange::CartFull,
            "missing" => CartChange::NotInCart,
            other => return Err(StoreError::Corrupt(format!("cart script status {other:?}"))),
        })
    }

    async fn order_json(&self, key: String) -> Result<Option<Order>, StoreError> {
        let json: Option<String> = self.connection.clone().get(key).await?;
        json.map(|j| parse_order(&j)).transpose()
    }
}

fn cart_key(user: &str) -> String {
    format!("{PREFIX}:cart:{user}")
}
fn version_key(user: &str) -> String {
    format!("{PREFIX}:cart-version:{user}")
}
fn order_prefix(user: &str) -> String {
    format!("{PREFIX}:order:{user}:")
}
fn orders_key(user: &str) -> String {
    format!("{PREFIX}:orders:{user}")
}
fn idempotency_key(user: &str, key: &str) -> String {
    format!("{PREFIX}:idempotency:{user}:{key}")
}

fn parse_cart<'a>(pairs: impl Iterator<Item = (&'a String, Option<&'a String>)>) -> Result<Cart, StoreError> {
    pairs
        .map(|(product, quantity)| {
            let quantity = quantity.ok_or_else(|| StoreError::Corrupt("odd cart reply".into()))?;
            match (product.parse(), quantity.parse()) {
                (Ok(p), Ok(q)) => Ok((p, q)),
                _ => Err(StoreError::Corrupt(format!(
                    "cart line {product:?} = {quantity:?}"
                ))),
            }
        })
        .collect()
}

fn parse_order(json: &str) -> Result<Order, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("order: {e}")))
}

impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            redis::cmd("PING").query_async::<()>(&mut connection).await?;
            Ok(())
        })
    }

    fn cart<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Cart> {
        Box::pin(async move {
            let lines: Vec<(String, String)> = self.connection.clone().hgetall(cart_key(user)).await?;
            parse_cart(lines.iter().map(|(p, q)| (p, Some(q))))
        })
    }

    fn add_item<'a>(&'a self, user: &'a str, product: u32, quantity: u32) -> StoreFuture<'a, CartChange> {
        Box::pin(self.change(user, "add", product, quantity))
    }

    fn set_item<'a>(&'a self, user: &'a str, product: u32, quantity: u32) -> StoreFuture<'a, CartChange> {
        Box::pin(self.change(user, "set", product, quantity))
    }

    fn remove_item<'a>(&'a self, user: &'a str, product: u32) -> StoreFuture<'a, CartChange> {
        Box::pin(self.change(user, "del", product, 0))
    }

    fn checkout_snapshot<'a>(
        &'a self,
        user: &'a str,
        idempotency: Option<&'a str>,
    ) -> StoreFuture<'a, CheckoutSnapshot> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let idem = idempotency
                .map(|key| idempotency_key(user, key))
                .unwrap_or_default();
            // MULTI/EXEC: the cart and its version are read as one consistent pair.
            let (lines, version, replay_id): (Vec<(String, String)>, Option<u64>, Option<String>) =
                redis::pipe()
                    .atomic()
                    .hgetall(cart_key(user))
                    .get(version_key(user))
                    .get(idem)
                    .query_async(&mut connection)
                    .await?;
            let replay = match replay_id.filter(|_| idempotency.is_some()) {
                Some(id) => self.order_json(format!("{}{id}", order_prefix(user))).await?,
                None => None,
            };
            let cart = parse_cart(lines.iter().map(|(p, q)| (p, Some(q))))?;
            Ok(CheckoutSnapshot {
                cart,
                version: version.unwrap_or(0),
                replay,
            })
        })
    }

    fn commit_order<'a>(
        &'a self,
        user: &'a str,
        expected_version: u64,
        idempotency: Option<&'a str>,
        order: &'a Order,
    ) -> StoreFuture<'a, Commit> {
        Box::pin(async move {
            let json = serde_json::to_string(order).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let idem = idempotency.map(|key| idempotency_key(user, key));
            let (status, replayed): (String, String) = self
                .commit_order
                .key(cart_key(user))
                .key(version_key(user))
                .key(format!("{}{}", order_prefix(user), order.id))
                .key(orders_key(user))
                .key(idem.clone().unwrap_or_else(|| format!("{PREFIX}:unused")))
                .arg(if idem.is_some() { "1" } else { "0" })
                .arg(expected_version)
                .arg(json)
                .arg(&order.id)
                .arg(order_prefix(user))
                .arg(IDEMPOTENCY_TTL_SECONDS)
                .invoke_async(&mut self.connection.clone())
                .await?;
            match status.as_str() {
                "created" => Ok(Commit::Created),
                "conflict" => Ok(Commit::Conflict),
                "replay" => Ok(Commit::Replayed(parse_order(&replayed)?)),
                other => Err(StoreError::Corrupt(format!("commit script status {other:?}"))),
            }
        })
    }

    fn orders<'a>(
        &'a self,
        user: &'a str,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<Order>, usize)> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let last = isize::try_from(offset + limit).unwrap_or(isize::MAX) - 1;
            let first = isize::try_from(offset).unwrap_or(isize::MAX);
            let (ids, total): (Vec<String>, usize) = redis::pipe()
                .atomic()
                .lrange(orders_key(user), first, last)
                .llen(orders_key(user))
                .query_async(&mut connection)
                .await?;
            if ids.is_empty() {
                return Ok((Vec::new(), total));
            }
            let keys: Vec<String> = ids
                .iter()
                .map(|id| format!("{}{id}", order_prefix(user)))
                .collect();
            let jsons: Vec<Option<String>> =
                redis::cmd("MGET").arg(keys).query_async(&mut connection).await?;
            let orders = jsons
                .iter()
                .flatten()
                .map(|j| parse_order(j))
                .collect::<Result<_, _>>()?;
            Ok((orders, total))
        })
    }

    fn order<'a>(&'a self, user: &'a str, id: &'a str) -> StoreFuture<'a, Option<Order>> {
        Box::pin(self.order_json(format!("{}{id}", order_prefix(user))))
    }
}
