package config

import (
	"fmt"
	"strings"
)

// isoCountries holds the officially assigned ISO 3166-1 alpha-2 codes, plus
// XK (Kosovo), which ISO leaves user-assigned but the European Commission
// and most registries use.
var isoCountries = setOf(`
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
XK
YE YT
ZA ZM ZW`)

// eeaCountries are the EU member states and Iceland, Liechtenstein and
// Norway, plus the EU's outermost regions and Åland, which ISO codes
// separately but where the GDPR applies as in the member state: a
// recipient there is not a transfer to a third country.
var eeaCountries = setOf(`
AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE
IS LI NO
AX GF GP MQ RE YT MF`)

// countryHints corrects codes that people write for good reasons but that
// ISO 3166-1 spells differently.
var countryHints = map[string]string{
	"UK": "the United Kingdom is GB in ISO 3166-1",
	"EL": "Greece is GR in ISO 3166-1 (EL is the EU's own abbreviation)",
	"EU": "the EU is not a country; name the country where the recipient processes the data",
}

func setOf(codes string) map[string]bool {
	m := map[string]bool{}
	for c := range strings.FieldsSeq(codes) {
		m[c] = true
	}
	return m
}

// checkCountry accepts an upper-case ISO 3166-1 alpha-2 code.
func checkCountry(code string) error {
	if isoCountries[code] {
		return nil
	}
	if hint, ok := countryHints[code]; ok {
		return fmt.Errorf("%q is not an ISO 3166-1 country code: %s", code, hint)
	}
	return fmt.Errorf("%q is not an ISO 3166-1 alpha-2 country code (e.g. DE, US, GB)", code)
}

func inEEA(code string) bool { return eeaCountries[code] }

// InEEA reports whether code (ISO 3166-1 alpha-2, upper case) is a member
// of the European Economic Area, where data moves without a Chapter V
// safeguard; the records of processing list recipients elsewhere as
// transfers to third countries.
func InEEA(code string) bool { return inEEA(code) }
