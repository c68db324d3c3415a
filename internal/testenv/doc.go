// Package testenv gives tests their real services: a fresh PostgreSQL
// schema per test, and the rule that a test which cannot reach its service
// skips with a message naming it, or fails when LETHE_TEST_REQUIRE_SERVICES=1
// (as CI runs).
package testenv
