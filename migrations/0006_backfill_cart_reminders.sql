-- Reminders sent before staged recovery used the key `cart-reminder:<cart>:stage-1`, with no
-- cart version. Each becomes a stage-1 reminder of its cart's current version when it was claimed
-- after the cart's last activity, so an upgrade neither sends that stage again nor forgets the
-- cooldown. Older ones belong to a version that has changed since: nothing to carry over.
INSERT INTO cart_reminders (email_key, cart_id, cart_activity_at, stage, template, recipient,
  customer_id, reminded_at, run_id, link_id, link_expires_at)
SELECT e.idempotency_key, c.id, c.last_activity_at, 1, e.template, e.recipient, c.customer_id,
  e.claimed_at, e.run_id, lower(hex(randomblob(16))), e.claimed_at
FROM emails e JOIN carts c ON e.idempotency_key = 'cart-reminder:' || c.id || ':stage-1'
WHERE e.status IN ('claimed', 'retrying', 'sent') AND e.claimed_at >= c.last_activity_at
ON CONFLICT DO NOTHING;
