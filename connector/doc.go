// Package connector opens the datastores of the data map and lets an
// application plug in its own.
//
// Set opens each datastore's connector on first use through an explicit
// map of drivers to the adapters in connector/<driver> (no init()
// registration), and keeps it open until Close. A datastore declared with
// `driver: custom` is served by a lethe.Connector the application passes
// in Options.Custom under the datastore's name; Funcs turns the familiar
// export_user_data / erase_user pair of functions into one.
package connector
