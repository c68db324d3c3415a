// Package deadline computes the legal deadlines of data subject requests:
// when a response is due, until when it may be extended and to when, and
// (under the CCPA) by when receipt must be confirmed.
//
// The rules, one per lethe.Jurisdiction, sit in one table (rules.go):
//
//   - GDPR Art. 12(3): one month from receipt, extendable by two further
//     months when the extension and its reasons are given within the first
//     month. Periods are counted as Regulation (EEC, Euratom) No 1182/71
//     counts them: the day of receipt is not counted (Art. 3(1)); a period in
//     months ends at the end of the day in the last month with the same date
//     as the day of receipt, or at the end of that month's last day when it
//     has no such date (Art. 3(2)(c)); a period ending on a Saturday, Sunday
//     or public holiday ends at the end of the next working day (Art. 3(4)).
//   - CCPA (Cal. Civ. Code § 1798.130(a)(2), CCPA Regulations § 7021):
//     45 calendar days after receipt, extendable once by 45 more (90 in
//     all) with notice within the first 45; receipt confirmed within 10
//     business days.
//   - LGPD Art. 19(II): 15 calendar days from the request.
//
// Days are civil dates in the controller's time zone (Calendar.Location):
// a request received at 23:30 UTC on a Friday was received on Saturday in
// Berlin, and the whole count follows that date. A deadline is the last
// instant of its due day in that zone (23:59:59.999999999 local), returned
// in UTC, so "overdue" is simply now.After(due).
//
// The package is pure logic: no I/O, no clock of its own (callers pass
// now), and every function is safe for concurrent use.
package deadline
