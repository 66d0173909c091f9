/** Crossbar.io docs, "WebSocket Options": the production WebSocket options of the Crossbar.io docs, verbatim. */
export const PRODUCTION_OPTIONS = {
  enable_webstatus: false,
  max_frame_size: 1048576,
  max_message_size: 1048576,
  auto_fragment_size: 65536,
  fail_by_drop: true,
  open_handshake_timeout: 2500,
  close_handshake_timeout: 1000,
  auto_ping_interval: 10000,
  auto_ping_timeout: 5000,
  auto_ping_size: 12,
  auto_ping_restart_on_any_traffic: true,
};
