// Package mail sends Lethe's e-mails to data subjects (verification codes,
// request receipts and outcomes, rejections with the right to complain,
// notice before a restriction is lifted) through a durable outbox.
//
// Enqueue seals the recipient and the template data with the subject's
// key (a Sealer: package keyring) and stores the message with an audit
// entry (lethe.OutboxStore); nothing personal is kept in the clear, so a
// subject erased before its mail went out leaves an unreadable message,
// which the outbox marks failed ("the subject was erased") without sending
// anything. SendDue, run periodically by Run, claims due messages with a
// lease (so that two workers never send the same one), opens them, renders
// the template and hands it to the SMTP server; a failed attempt is retried
// with growing delays (1m, 5m, 30m, 2h, ...) up to a limit and then left
// failed and visible. Without SMTP configured, messages wait in the outbox
// and SendDue only counts them.
//
// Addresses and bodies never reach a log line, an error or the store's
// LastError.
package mail
