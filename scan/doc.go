// Package scan finds personal data in the datastores of the data map,
// declared or not: PII discovery, behind `lethe scan`.
//
// Run samples every table of each datastore (every table of the database
// where its connector implements lethe.TableLister, else the data map's
// collections) through lethe.Sampler, with a cost bounded by the sample
// size, classifies each column from its name, its type and the sampled
// values, and compares the findings with the data map: a column holding
// personal data that the data map neither declares (fields:, identities,
// references, primary key) nor lists under ignore: is undeclared; a
// declared field whose content looks like another category is a
// mismatch. Report.Propose writes data-map YAML for the undeclared ones.
//
// # Detectors
//
//	email          dot-atom local part, a domain of two labels or more
//	phone          libphonenumber validity (nyaruka/phonenumbers): +country
//	               numbers anywhere; national numbers when written as such
//	               (trunk 0, parentheses) or in a column named phone/mobile...
//	ip_address     IPv4 dotted quad, IPv6; not in a column named version
//	iban           registered country and length, ISO 7064 mod 97-10
//	payment_card   network prefix and length (Visa, Mastercard, Amex,
//	               Discover, JCB, Diners, UnionPay, Maestro) and Luhn
//	date_of_birth  a date (no time of day) 13 to 110 years ago; a column
//	               without a birth-like name needs 15+ distinct years
//	postal_code    UK, Canadian, Dutch, Portuguese, Japanese formats; bare
//	               4-5 digit codes and ZIP+4 only in a zip/postcode column
//	national_id    us.ssn (AAA-GG-SSSS and issuance rules: no check digit),
//	               fr.nir (key), nl.bsn (11-test), es.dni (DNI/NIE letter),
//	               it.cf (codice fiscale check character)
//	person_name    1-4 words of letters: any in a first_name/surname-like
//	               column, else one word must be in the embedded name lists
//	free_text      prose holding an e-mail, +country phone, IP, IBAN, card
//	               or checked national identifier
//
// A column is reported with its most confident detector, once enough of
// its sampled values matched (half for most detectors, 2% of prose
// values for free text), so that a look-alike passing a checksum by
// chance (an order number passing the BSN 11-test, one in eleven) does
// not make its column personal. docs/scan.md has the precision and recall
// measured on a labelled table, and how to reproduce them.
//
// # No values out
//
// A finding holds counts (Evidence) and never a sampled value; neither do
// errors or logs. ColumnStats keeps counts only, so the sample is gone as
// soon as a row has been classified.
package scan
