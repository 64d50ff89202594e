package identity

import (
	"slices"
	"strings"
)

// nicknameGroups lists given names that are commonly used for one another
// (English-speaking usage). Each line is one group; a name may appear in
// several groups ("al" is short for Albert, Alfred and Alan).
var nicknameGroups = []string{
	"robert rob bob bobby robbie bert",
	"william will bill billy willy liam",
	"richard rick dick ricky rich richie",
	"james jim jimmy jamie",
	"john jack johnny jon",
	"jonathan johnathan jon jonny nathan",
	"michael mike mick mikey mickey",
	"thomas tom tommy",
	"charles charlie chuck chas carl",
	"joseph joe joey jos",
	"edward ed eddie ted teddy ned",
	"edwin ed eddie",
	"edmund ed eddie ned",
	"theodore theo ted teddy",
	"henry harry hank hal",
	"harold harry hal",
	"christopher chris kit topher",
	"christian chris",
	"daniel dan danny",
	"david dave davy",
	"matthew matt matty",
	"anthony tony ant",
	"andrew andy drew",
	"stephen steve stevie",
	"steven steve stevie",
	"nicholas nick nicky nico",
	"benjamin ben benny benji",
	"samuel sam sammy",
	"samantha sam sammy",
	"alexander alex alec sandy xander",
	"alexandra alex alexa sandra sandy lexi",
	"albert al bert bertie",
	"alfred al alf alfie fred",
	"alan al",
	"frederick fred freddie freddy fritz",
	"lawrence larry laurie",
	"leonard leo len lenny",
	"gregory greg",
	"peter pete",
	"patrick pat paddy",
	"patricia pat patty tricia trish",
	"kenneth ken kenny",
	"ronald ron ronnie",
	"donald don donnie",
	"raymond ray",
	"timothy tim timmy",
	"gerald gerry jerry",
	"jerome jerry",
	"walter walt wally",
	"eugene gene",
	"francis frank frankie fran",
	"frances fran frannie francie",
	"franklin frank",
	"phillip phil pip",
	"philip phil pip",
	"douglas doug",
	"zachary zach zack",
	"nathaniel nate nat nathan",
	"vincent vince vinny",
	"victor vic",
	"victoria vicky tori vic",
	"elizabeth liz lizzie beth betty bess betsy eliza elise libby lisa",
	"margaret maggie meg peggy marge margie greta",
	"katherine kate katie kathy kat kitty",
	"catherine cate cathy kate katie cat",
	"kathleen kathy kate",
	"jennifer jen jenny",
	"jessica jess jessie",
	"deborah deb debbie",
	"rebecca becky becca",
	"susan sue susie suzy",
	"suzanne sue susie suzy",
	"barbara barb barbie babs",
	"dorothy dot dottie dolly",
	"judith judy jude",
	"christine chris chrissy tina",
	"christina chris chrissy tina",
	"kimberly kim",
	"pamela pam",
	"cynthia cindy",
	"jacqueline jackie jacqui",
	"abigail abby gail",
	"amanda mandy",
	"melissa mel missy",
	"melanie mel",
	"josephine jo josie",
	"joanne jo jo-anne",
	"theresa terry tess tessa",
	"teresa terry tess tessa",
	"virginia ginny ginger",
	"eleanor ellie nell nellie elle",
	"helen nell nellie",
	"ann anne annie nan nancy",
	"anna annie",
	"mary molly polly mae mamie",
	"sarah sally sadie",
	"caroline carrie carol",
	"carolyn carrie carol",
	"madeline maddie maddy",
	"madison maddie maddy",
	"isabella bella izzy isabel",
	"isabelle bella izzy",
	"gabriel gabe",
	"gabrielle gabby ella",
	"olivia liv livvy",
	"natalie nat",
	"jacob jake",
	"joshua josh",
	"nathan nate",
	"bradley brad",
	"cameron cam",
	"mitchell mitch",
	"maximilian max",
	"maxwell max",
	"oliver ollie",
	"jeffrey jeff",
	"geoffrey geoff jeff",
	"terence terry",
	"clifford cliff",
	"reginald reg reggie",
	"wilfred wilf fred",
	"augustus gus",
	"ignatius iggy",
	"montgomery monty",
	"arthur art artie",
	"herbert herb bert",
	"hubert bert",
	"gilbert gil bert",
	"bertram bert",
	"archibald archie",
	"leopold leo",
	"ferdinand ferdy",
	"percival percy",
	"cornelius neil",
	"elijah eli",
	"ezekiel zeke",
	"isaac ike",
	"jeremiah jerry",
	"josiah joe",
	"sebastian seb",
	"solomon sol",
	"stanley stan",
	"tobias toby",
	"valentine val",
	"winston win",
	"alice allie",
	"amelia millie amy",
	"beatrice bea trixie",
	"charlotte lottie charlie",
	"clara clare",
	"constance connie",
	"edith edie",
	"emily em emmy",
	"emma em",
	"esther essie",
	"florence flo florrie",
	"georgina georgie",
	"gertrude gertie trudy",
	"harriet hattie",
	"henrietta etta hettie",
	"jane jenny jean janet",
	"joan joanie",
	"johanna jo hanna",
	"louisa lou lulu",
	"louise lou",
	"lucinda lucy cindy",
	"martha mattie patty",
	"matilda tilly maud",
	"mildred millie",
	"philippa pippa",
	"prudence prue",
	"rosemary rosie",
	"sophia sophie",
	"susanna sue susie",
	"winifred winnie",
	"adelaide addie",
	"agnes aggie",
	"john johann giovanni juan ivan hans jean",
	"william wilhelm guillaume guglielmo",
	"henry henri heinrich enrique enrico",
	"charles carlos karl carlo",
	"louis luis ludwig lewis luigi",
	"peter pierre pedro pietro",
	"paul pablo paolo",
	"joseph giuseppe jose",
	"george georg jorge giorgio",
	"francis francois francesco francisco franz",
	"stephen stefan etienne esteban",
	"james seamus jacques diego",
	"michael michel miguel michele",
	"mary marie maria",
	"catherine katharina caterina catalina",
	"elizabeth elisabeth isabel",
	"anthony antonio antoine anton",
	// Cross-cultural variants and diminutives (Spanish, Russian, German,
	// French, Italian). Curated by hand from common usage and checked
	// against the public-domain carltonnorthern/nicknames list
	// (github.com/carltonnorthern/nicknames, names.csv) and the
	// Wiktionary appendices of given-name diminutives; no list is
	// copied. Russian names are in their usual Latin transliterations
	// (BGN/PCGN, ISO 9 without diacritics, and passport spellings).
	"alexander aleksandr aleksander alexandr alexandre alejandro alessandro sasha sacha shura sanya sandro alex",
	"alexandra aleksandra alejandra alessandra sasha sacha shura",
	"jose josé pepe pepito chepe",
	"francisco paco pancho curro frank",
	"ignacio nacho",
	"enrique quique kike",
	"guadalupe lupe lupita",
	"dolores lola",
	"concepcion concha conchita",
	"jesus chucho chuy",
	"manuel manolo manu manny",
	"eduardo lalo edu eddie",
	"rosario charo",
	"mercedes merche meche",
	"antonio toni tono tony",
	"ivan vanya vanyusha",
	"dmitri dmitry dmitriy dimitri dima mitya",
	"mikhail michail misha mischa",
	"nikolai nikolay kolya",
	"vladimir volodya vova",
	"yekaterina ekaterina katerina katya katia",
	"yelena elena lena",
	"natalya natalia nataliya natasha natalie",
	"anastasia anastasiya nastya",
	"tatyana tatiana tanya",
	"mariya maria masha",
	"olga olya",
	"sergei sergey serguei seryozha",
	"aleksei alexei alexey aleksey lyosha alyosha",
	"yevgeny evgeny evgeniy eugene zhenya",
	"pavel pasha",
	"svetlana sveta",
	"lyudmila ludmila luda mila",
	"irina ira",
	"anna anya annushka",
	"pyotr petr peter petya",
	"johannes hannes hans johann jan",
	"wolfgang wolf",
	"friedrich fritz",
	"katharina kathrin katrin kathi",
	"elisabeth liesel lies elise",
	"margarete margarethe grete gretchen",
	"wilhelm willi willy",
	"heinrich heinz",
	"josef joseph sepp seppl",
	"franziska franzi",
	"guillaume guy",
	"francoise france",
	"marguerite margot",
	"stephane stephan",
	"giuseppe beppe peppe pino",
	"giovanni gianni nanni",
	"francesco franco checco",
	"roberto berto beto",
	"salvatore toto",
	"vincenzo enzo",
	"luigi gino",
	"elisabetta betta",
	"robert roberto",
	"andrew andres andreas andrea andrei andrey andre",
	"nicholas nicolas nicola nikolai niklas klaus",
	"michael mikhail",
	"paul pavel",
	"eugene evgeny",
	"catherine ekaterina yekaterina",
	"helen helene elena yelena",
	"mary mariya",
	"joseph josef iosif",
	"elizabeth elisabetta",
	"hannah hanna anna",
	// Spellings of one English name that differ by more than a typo,
	// and the diminutives they share.
	"stephen steven steve stevie",
	"stephanie steph stephie",
	"katherine kathryn catherine cathryn kathy cathy kate katie",
	"deborah debra debbie deb",
	"jeffrey geoffrey jeff geoff",
	"philip phillip phil",
	"sarah sara",
	"brian bryan",
	"eric erik",
	"mark marc",
	// More Spanish hipocorísticos (the diminutives of Spanish and Latin
	// American usage, as listed in the Spanish-language Wikipedia
	// article "Hipocorístico").
	"ricardo richi ricky rick",
	"guillermo memo guille willy william",
	"alejandro ale alex",
	"alejandra ale alex",
	"rafael rafa",
	"isabel chabela chavela isa",
	"gabriela gabi gaby",
	"veronica vero",
	"fernando nando fer",
	"alberto beto",
	"gustavo tavo gus",
	"javier javi",
	"margarita marga",
	"consuelo chelo",
	"luis lucho",
	"rodrigo rodri",
	"dolores lola loli",
	// Irish names and their anglicised forms (the usual equivalences of
	// Irish-language given names, as in the Wikipedia list of Irish
	// given names and Ó Corráin & Maguire, "Irish Names").
	"sean shaun shawn shane",
	"ciaran kieran",
	"padraig patrick paddy pat",
	"niamh neve",
	"aoife eva eve",
	"caoimhe keeva",
	"brid brigid bridget biddy bride",
	"siobhan joan",
	"sinead jane janet",
	"eoin owen",
	"eamon eamonn edmund",
	"diarmuid dermot",
	"grainne grace",
	"maire maura moira mary",
	// Russian names: more transliterations and diminutives.
	"yuri yury yuriy iurii yura",
	"yulia yuliya julia iuliia yulya",
	// German: spellings and short forms.
	"gunter gunther guenter",
	"jurgen juergen",
	"stefan stephan steffen",
	"klaus claus",
	"matthias mathias matthew",
	"ursula uschi ulla",
	"brigitte birgit gitte",
	"monika monica",
	// Arabic and South Asian names: romanisations and short forms.
	"muhammad mohammed mohammad mohamed mohamad muhammed mohd mo",
	"ahmed ahmad",
	"hussain hussein husain",
	"aisha ayesha aysha",
	"lakshmi laxmi",
	"kavita kavitha",
	"vikram vik",
	"venkatesh venky",
	"rajesh raj",
}

// nicknameMembers is each group of nicknameGroups as normalized names,
// the group's formal name first. Built once; read-only afterwards.
var nicknameMembers = groupMembers(nicknameGroups)

// nicknames maps a name to the sorted, deduplicated list of group numbers
// it belongs to. Built once; read-only afterwards.
var nicknames = indexGroups(nicknameMembers)

// groupMembers splits each line of a name-group table into its
// normalized names.
func groupMembers(lines []string) [][]string {
	out := make([][]string, len(lines))
	for g, line := range lines {
		for _, n := range strings.Fields(line) {
			out[g] = append(out[g], NormalizeName(n))
		}
	}
	return out
}

// indexGroups maps every name of groups to the sorted, deduplicated
// numbers of the groups it is in.
func indexGroups(groups [][]string) map[string][]uint16 {
	m := map[string][]uint16{}
	for g, names := range groups {
		for _, n := range names {
			if gs := m[n]; len(gs) == 0 || gs[len(gs)-1] != uint16(g) {
				m[n] = append(gs, uint16(g))
			}
		}
	}
	return m
}

// shareGroup reports whether two names' group lists (indexGroups) have
// a group in common.
func shareGroup(ga, gb []uint16) bool {
	for _, x := range ga {
		if slices.Contains(gb, x) {
			return true
		}
	}
	return false
}

// Nicknames reports whether a and b (normalized first names) are usual
// variants of one another, e.g. Bob and Robert, Peggy and Margaret.
func Nicknames(a, b string) bool { return shareGroup(nicknames[a], nicknames[b]) }

// canonicalFirst returns the first group's first name for a known
// nickname ("bob" → "robert") or the name itself. Blocking uses it.
func canonicalFirst(n string) string {
	if gs := nicknames[n]; len(gs) > 0 {
		return nicknameMembers[gs[0]][0]
	}
	return n
}

// sexedNameGroups lists given names whose masculine and feminine forms
// are spelt alike ("Michael" and "Michelle", "Daniel" and "Danielle",
// "Luis" and "Lucía"): masculine forms before the bar, feminine after.
// A masculine and a feminine name of one line are two people's names,
// not one name misspelt, however close the spellings (firstLevel).
// Forms used for both sexes (Alex, Chris, Sam, Jesse, Jean) are not
// listed. Sources: the US Social Security Administration's
// baby-name counts by sex (names given ≥ 95 % to one sex) and the
// Spanish, Portuguese and Russian feminine forms of the same names.
var sexedNameGroups = []string{
	"michael miguel mikhail|michelle michaela micaela",
	"daniel|danielle daniela",
	"paul paulo pablo pavel|paula pauline paulina",
	"eric erik|erica erika",
	"robert roberto|roberta",
	"patrick|patricia",
	"christopher christian cristian|christine christina kristina cristina",
	"alexander aleksandr alexandr alejandro|alexandra aleksandra alejandra",
	"andrew andres andrei|andrea",
	"brian bryan|briana brianna",
	"carl carlos karl|carla karla",
	"gabriel|gabriela gabriella gabrielle",
	"jorge|georgina",
	"joseph jose|josephine josefa",
	"julian julio|juliana julia julie",
	"justin|justine",
	"louis luis|louise luisa lucia",
	"mario|maria marie",
	"marc marco marcus|marcia",
	"martin|martina",
	"nicholas nicolas|nicole nicola",
	"oliver|olivia",
	"philip phillip felipe|philippa",
	"samuel|samantha",
	"stephen steven stefan|stephanie",
	"victor|victoria",
	"antonio anton|antonia",
	"francisco|francisca",
	"gerald|geraldine",
	"henry|henrietta",
	"jesse|jessica",
	"dean|deanna",
	"fernando|fernanda",
	"manuel|manuela",
	"eduardo|eduarda",
	"ivan|ivana",
	"yevgeny evgeny|yevgenia evgenia",
	"valentin|valentina",
}

// sexedName is a name's line in sexedNameGroups and its sex there: +1
// masculine, −1 feminine.
type sexedName struct {
	group uint16
	sex   int8
}

// sexedNames maps each name of sexedNameGroups to its sexedName. Built
// once.
var sexedNames = func() map[string]sexedName {
	m := map[string]sexedName{}
	for g, line := range sexedNameGroups {
		male, female, _ := strings.Cut(line, "|")
		for _, n := range strings.Fields(male) {
			m[n] = sexedName{uint16(g), 1}
		}
		for _, n := range strings.Fields(female) {
			m[n] = sexedName{uint16(g), -1}
		}
	}
	return m
}()

// oppositeSexForms reports whether a and b (normalized given names) are
// the masculine and the feminine form of one name (sexedNameGroups).
func oppositeSexForms(a, b string) bool {
	x, ok := sexedNames[a]
	if !ok {
		return false
	}
	y, ok := sexedNames[b]
	return ok && x.group == y.group && x.sex != y.sex
}
