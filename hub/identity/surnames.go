package identity

import "strings"

// surnameGroups lists family names that are one name written in another
// romanisation or spelling. Each line is one group; a name may sit in
// several groups (Cantonese "wong" is both Huang and Wang), and
// membership is not transitive across groups. Sources:
//
//   - Chinese: Hanyu Pinyin, Wade–Giles and the Hong Kong government's
//     Cantonese spellings, and the Hokkien/Teochew forms common in
//     Singapore and Malaysia, as tabulated in Wikipedia's "List of common
//     Chinese surnames" (each character's romanisations);
//   - Vietnamese: Huỳnh for Hoàng and Võ for Vũ, the southern forms of
//     one character (黃, 武) adopted under a naming taboo (Wikipedia,
//     "Huỳnh", "Võ");
//   - Korean: the Revised Romanization, McCune–Reischauer and the
//     customary passport spellings (Wikipedia, "List of Korean surnames");
//   - German: ä, ö, ü written ae, oe, ue (ICAO Doc 9303 part 3) are a
//     rule (umlautForm), and Meyer/Meier/Maier/Mayer one name;
//   - Irish: the anglicised and Gaelic forms and the dropped Ó / Mac
//     (Edward MacLysaght, "The Surnames of Ireland", 6th ed., 1985: Ó
//     Broin → Byrne, Burns; Ó Súilleabháin → O'Sullivan, Sullivan) — the
//     dropped prefixes are a rule (prefixForm);
//   - English: the common spelling pairs of one surname (Gray/Grey,
//     Stevens/Stephens; P. H. Reaney, "A Dictionary of English
//     Surnames", 3rd ed., 1997).
var surnameGroups = []string{
	// Chinese: pinyin, Wade–Giles, Cantonese, Hokkien/Teochew.
	"zhang chang cheung",
	"chen chan chin tan",
	"huang hwang wong",
	"wang wong",
	"li lee lei",
	"xu hsu hui",
	"zhou chou chow",
	"zhao chao chiu",
	"wu woo ng",
	"liu lau",
	"yang yeung",
	"zheng cheng",
	"sun suen",
	"lin lam lim",
	"guo kuo kwok",
	"he ho",
	"zhu chu",
	"xie hsieh tse",
	"jiang chiang",
	"zeng tseng tsang",
	"cai tsai choi choy",
	"deng teng",
	"feng fung",
	"liang leung",
	"song sung",
	"cao tsao tso",
	"xiao hsiao siu",
	"ye yeh yip",
	"gao kao ko",
	// Vietnamese.
	"huynh hoang",
	"vu vo",
	// Korean.
	"lee yi rhee",
	"park pak bak",
	"choi choe",
	"jung jeong chung",
	"kang gang",
	"cho jo",
	"yoon yun",
	// German.
	"meyer meier maier mayer",
	"schmidt schmitt",
	"hoffmann hofmann",
	// Irish.
	"byrne burns obroin",
	"osullivan osuilleabhain",
	// English.
	"gray grey",
	"stevens stephens",
	"stevenson stephenson",
	"thompson thomson",
	"phillips philips",
	"matthews mathews",
}

// surnames maps a normalized surname to its groups. Built once.
var surnames = indexGroups(groupMembers(surnameGroups))

// SurnameVariants reports whether a and b (normalized family names,
// NormalizeName) are one surname in two romanisations or spellings:
// members of one of surnameGroups, an umlaut written out ("mueller" and
// "müller", which folds to "muller"), or an Irish or Scottish surname
// with and without its Ó / Mac ("osullivan" and "sullivan", "macdonald"
// and "mcdonald").
func SurnameVariants(a, b string) bool {
	if a == "" || b == "" || a == b {
		return false
	}
	// Most pairs are two unrelated surnames: the group lookup of b, and
	// the prefix forms of names beginning with neither o nor m, cannot
	// say yes (this runs on every family-name comparison that is not
	// close).
	if ga := surnames[a]; len(ga) > 0 && shareGroup(ga, surnames[b]) || umlautEqual(a, b) {
		return true
	}
	if a[0] != 'o' && a[0] != 'm' && b[0] != 'o' && b[0] != 'm' {
		return false
	}
	return prefixForm(a) == prefixForm(b)
}

// umlautEqual reports whether a and b differ only in umlauts written
// out: an e after a, o or u in one where the other has none ("mueller"
// and "muller", the fold of "müller"; "schroeder" and "schroder"). It
// does not allocate: it runs on the comparison's hot path.
func umlautEqual(a, b string) bool {
	if a == b || len(a) == len(b) {
		return false
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] == b[j] {
			i++
			j++
			continue
		}
		switch {
		case a[i] == 'e' && i > 0 && isUmlautBase(a[i-1]):
			i++
		case b[j] == 'e' && j > 0 && isUmlautBase(b[j-1]):
			j++
		default:
			return false
		}
	}
	// What is left must be written-out umlauts' e's too.
	for ; i < len(a); i++ {
		if a[i] != 'e' || !isUmlautBase(a[i-1]) {
			return false
		}
	}
	for ; j < len(b); j++ {
		if b[j] != 'e' || !isUmlautBase(b[j-1]) {
			return false
		}
	}
	return true
}

func isUmlautBase(c byte) bool { return c == 'a' || c == 'o' || c == 'u' }

// prefixForm strips an Irish or Scottish patronymic prefix when at least
// four letters remain ("osullivan" → "sullivan", "mcdonald" and
// "macdonald" → "donald"); other names are returned as they are.
func prefixForm(s string) string {
	for _, p := range [...]string{"mac", "mc", "o"} {
		if rest, ok := strings.CutPrefix(s, p); ok && len(rest) >= 4 {
			return rest
		}
	}
	return s
}
