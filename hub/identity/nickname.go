package identity

import "strings"

// nicknameGroups lists given names that are commonly used for one another
// (English-speaking usage). Each line is one group; a name may appear in
// several groups ("al" is short for Albert, Alfred and Alan).
var nicknameGroups = []string{
	"robert rob bob bobby robbie bert",
	"william will bill billy willy liam",
	"richard rick dick ricky rich richie",
	"james jim jimmy jamie",
	"john jack johnny jon",
	"jonathan jon jonny nathan",
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
}

// nicknames maps a name to the sorted, deduplicated list of group numbers
// it belongs to. Built once; read-only afterwards.
var nicknames = func() map[string][]uint16 {
	m := map[string][]uint16{}
	for g, line := range nicknameGroups {
		for _, n := range strings.Fields(line) {
			n = NormalizeName(n)
			gs := m[n]
			if len(gs) == 0 || gs[len(gs)-1] != uint16(g) {
				m[n] = append(gs, uint16(g))
			}
		}
	}
	return m
}()

// Nicknames reports whether a and b (normalized first names) are usual
// variants of one another, e.g. Bob and Robert, Peggy and Margaret.
func Nicknames(a, b string) bool {
	ga, gb := nicknames[a], nicknames[b]
	for _, x := range ga {
		for _, y := range gb {
			if x == y {
				return true
			}
		}
	}
	return false
}

// canonicalFirst returns the first group's first name for a known
// nickname ("bob" → "robert") or the name itself. Blocking uses it.
func canonicalFirst(n string) string {
	if gs := nicknames[n]; len(gs) > 0 {
		return NormalizeName(strings.Fields(nicknameGroups[gs[0]])[0])
	}
	return n
}
