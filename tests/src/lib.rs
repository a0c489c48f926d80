//! Helpers for herd's kind end-to-end suite.
