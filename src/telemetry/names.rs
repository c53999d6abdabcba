//! Every metric name, in one place.

pub const INBOUND_CALLS: &str = "callboard_inbound_calls_total";
pub const ANSWERED_CALLS: &str = "callboard_answered_calls_total";
pub const ABANDONED_CALLS: &str = "callboard_abandoned_calls_total";
pub const ANSWERED_IN_SL_CALLS: &str = "callboard_answered_in_sl_calls_total";
pub const CALLBACK_CALLS: &str = "callboard_callback_calls_total";
pub const WAITING_CALLS: &str = "callboard_waiting_calls";
pub const LONGEST_WAIT: &str = "callboard_longest_wait_seconds";
pub const ANSWER_RATIO: &str = "callboard_answer_ratio";
pub const SERVICE_LEVEL_RATIO: &str = "callboard_service_level_ratio";
pub const TENANT_ANSWER_RATIO: &str = "callboard_tenant_answer_ratio";
pub const TENANT_SERVICE_LEVEL_RATIO: &str = "callboard_tenant_service_level_ratio";
pub const TENANT_WAITING_CALLS: &str = "callboard_tenant_waiting_calls";
pub const TENANT_LONGEST_WAIT: &str = "callboard_tenant_longest_wait_seconds";
pub const AGENTS: &str = "callboard_agents";
pub const TENANT_AGENTS: &str = "callboard_tenant_agents";
pub const EVENTS: &str = "callboard_events_total";
pub const DEAD_LETTERS_DROPPED: &str = "callboard_kafka_dead_letters_dropped_total";
pub const EXPIRED_CALLS: &str = "callboard_expired_calls_total";
pub const EVENTS_REJECTED: &str = "callboard_events_rejected_total";
pub const PUBLISH_DURATION: &str = "callboard_publish_duration_seconds";
pub const WEBSOCKET_CLIENTS: &str = "callboard_websocket_clients";
pub const RECOVERING: &str = "callboard_recovering";
pub const CONSUMER_LAG: &str = "callboard_kafka_consumer_lag_messages";
pub const TENANT_AGENT_MISSED_CALLS: &str = "callboard_tenant_agent_missed_calls_total";
pub const TENANT_AGENT_BUSY_SECONDS: &str = "callboard_tenant_agent_busy_seconds_total";
pub const TENANT_AGENT_READY_SECONDS: &str = "callboard_tenant_agent_ready_seconds_total";
