package identity

import "strings"

// Realistic name frequencies for the customer generator (decision 0092).
//
// The listed pools of names.go are each culture's most common names.
// Drawn uniformly from them alone (NamesDense, the published
// "customers" set), 22,700 persons bear only 8,000 distinct names and
// 88 % of them share theirs with another customer: two persons share a
// full name ten times as often as in FEBRL's generator, whose frequency
// tables come from real name counts. NamesRealistic draws a culture's listed names with Zipf-like
// weights (a few very common, most less so) for a share of its people
// and the rest from a long tail: more real names, and for the family
// names of most cultures names composed the way such names are formed
// (toponymic compounds in English and German, patronymic endings in
// Russian), so rare names are rare as they are in a real customer base.

// tailPools is one culture's long tail and how its names are drawn.
type tailPools struct {
	// surHead and givenHead are the percentages of family and given
	// names drawn from the culture's listed (head) names; the rest come
	// from the tail.
	surHead, givenHead int
	// surnames are real family names beyond the head; surA × surB
	// compose more ("Ash" + "ford"). A tail draw picks a listed one or a
	// composed one in proportion to how many of each there are.
	surnames   []string
	surA, surB []string
	// male and female are real given names beyond the head; givenA ×
	// givenB compose more, for both sexes ("Zhi" + "hao").
	male, female   []string
	givenA, givenB []string
}

// tails are the cultures' tail pools by culture name.
var tails = map[string]*tailPools{
	"anglo": {surHead: 20, givenHead: 60,
		surA: ss("Ash", "Black", "Brad", "Bram", "Brook", "Cald", "Chat", "Craw", "Dun", "East", "Ell", "Fair",
			"Farn", "Gold", "Good", "Hart", "Hay", "Hol", "Kings", "Lang", "Lock", "Mid", "New", "Nor", "Ox",
			"Pem", "Pen", "Rad", "Red", "Rock", "Rox", "Rus", "Shel", "Stan", "Stock", "Sut", "Thorn", "Wad",
			"Wake", "Wal", "Whit", "Win", "Wor", "Yar", "Bar", "Bel", "Cran", "Dray", "Hal", "Lind", "Ram",
			"Sel", "Tem", "Ames", "Bir", "Cat", "Dal", "Ed", "Fen", "Gar", "Har", "Hun", "Kel", "Mel"),
		surB: ss("ford", "ley", "ton", "well", "wood", "field", "by", "worth", "ham", "more", "combe", "dale",
			"stone", "ridge", "brook", "wick", "bury", "shaw", "croft", "land", "mere", "hurst", "den", "cott",
			"stead", "ington", "borough", "wright", "man", "ing", "sley", "cliffe", "burn", "hill"),
		male: ss("Aaron", "Adam", "Alan", "Albert", "Arthur", "Austin", "Barry", "Bradley", "Bruce", "Carl",
			"Clifford", "Craig", "Curtis", "Dale", "Darren", "Dean", "Dennis", "Derek", "Dylan", "Evan",
			"Glenn", "Gordon", "Grant", "Harold", "Ian", "Isaac", "Jeremy", "Jesse", "Joel", "Justin", "Keith",
			"Kenneth", "Kyle", "Leonard", "Louis", "Marcus", "Melvin", "Nathan", "Neil", "Noah", "Norman",
			"Oliver", "Oscar", "Owen", "Ralph", "Randall", "Roger", "Ronald", "Roy", "Shane", "Simon",
			"Stanley", "Terry", "Travis", "Trevor", "Tyler", "Victor", "Vincent", "Warren", "Wayne", "Wesley",
			"Zachary", "Clarence", "Earl", "Floyd", "Herbert", "Lloyd", "Milton", "Rodney", "Vernon"),
		female: ss("Alice", "Alison", "Andrea", "April", "Audrey", "Beverly", "Brenda", "Brittany", "Carol",
			"Caroline", "Carolyn", "Cheryl", "Claire", "Colleen", "Courtney", "Crystal", "Cynthia", "Danielle",
			"Denise", "Diana", "Diane", "Donna", "Eileen", "Evelyn", "Frances", "Gail", "Heather", "Holly",
			"Irene", "Janet", "Janice", "Jean", "Joan", "Joanne", "Joyce", "Judith", "Julie", "June",
			"Kathleen", "Kristen", "Leslie", "Lillian", "Lori", "Lorraine", "Lucy", "Marilyn", "Megan",
			"Melanie", "Nicole", "Paula", "Pamela", "Phyllis", "Rita", "Robin", "Rose", "Ruth", "Sandra",
			"Sharon", "Shirley", "Sylvia", "Tamara", "Tiffany", "Valerie", "Vanessa", "Vivian", "Wendy",
			"Yvonne", "Bonnie", "Doris", "Edith", "Gwendolyn", "Lydia", "Marcia", "Miriam")},
	"hispanic": {surHead: 45, givenHead: 60,
		surnames: ss("Aguilar", "Alonso", "Arias", "Benítez", "Blanco", "Bravo", "Cabrera", "Calderón", "Campos",
			"Cano", "Carrasco", "Castro", "Cervantes", "Contreras", "Cortés", "Delgado", "Domínguez", "Duarte",
			"Escobar", "Espinoza", "Estrada", "Fernández", "Figueroa", "Fuentes", "Gallardo", "Gallegos",
			"Garza", "Guerrero", "Guzmán", "Herrera", "Ibarra", "Juárez", "León", "Luna", "Maldonado", "Marín",
			"Medina", "Mejía", "Méndez", "Mendoza", "Miranda", "Molina", "Montoya", "Mora", "Moreno", "Muñoz",
			"Navarro", "Núñez", "Ochoa", "Orozco", "Ortega", "Pacheco", "Padilla", "Paredes", "Peña",
			"Quintero", "Ramos", "Rojas", "Rosales", "Rubio", "Salazar", "Salinas", "Sandoval", "Santiago",
			"Santos", "Serrano", "Silva", "Soto", "Suárez", "Tapia", "Valdez", "Valencia", "Vargas", "Vega",
			"Velázquez", "Villa", "Zamora", "Zúñiga", "Acosta", "Ávila", "Barrera", "Cárdenas", "Cisneros",
			"Esquivel", "Galindo", "Lozano", "Meza", "Olivares", "Quiroga", "Robles", "Solís", "Trujillo"),
		surA: ss("Alv", "Bel", "Cam", "Cor", "Dom", "Esc", "Fer", "Gal", "Her", "Ib", "Lor", "Mar", "Men", "Mol",
			"Nav", "Ord", "Pad", "Quin", "Ram", "Sal", "San", "Tor", "Val", "Ver", "Zam", "Bust", "Card", "Ech"),
		surB: ss("ero", "illo", "ado", "ino", "ales", "eda", "ueta", "iente", "aga", "ana"),
		male: ss("Alberto", "Andrés", "Arturo", "Diego", "Emilio", "Fernando", "Gerardo", "Héctor", "Javier",
			"Julio", "Marco", "Mario", "Óscar", "Pablo", "Pedro", "Raúl", "Rodrigo", "Salvador", "Sergio",
			"Víctor", "Armando", "Rubén", "Ramón", "Esteban", "Gustavo"),
		female: ss("Adriana", "Alejandra", "Beatriz", "Claudia", "Cristina", "Daniela", "Esperanza", "Gloria",
			"Leticia", "Lorena", "Marisol", "Norma", "Paola", "Raquel", "Silvia", "Yolanda", "Ximena",
			"Josefina", "Margarita", "Rocío", "Graciela", "Irma", "Luz", "Pilar", "Alicia")},
	"chinese": {surHead: 55, givenHead: 30,
		surnames: ss("Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo", "Zheng", "Liang", "Xie", "Song",
			"Tang", "Han", "Feng", "Deng", "Cao", "Peng", "Zeng", "Xiao", "Tian", "Dong", "Pan", "Yuan", "Cai",
			"Jiang", "Yu", "Du", "Ye", "Cheng"),
		givenA: ss("Zhi", "Xiao", "Jia", "Yu", "Hao", "Wen", "Ming", "Hong", "Xin", "Yi", "Zi", "Chun", "Guo",
			"Kai", "Rui", "Tian", "Ya", "Shu", "Jin", "Bo"),
		givenB: ss("wei", "ming", "hao", "yu", "jie", "lin", "ting", "xuan", "hui", "qiang", "yang", "fei", "na",
			"lan", "feng", "long", "han", "qing", "chen", "yan")},
	"vietnamese": {surHead: 100, givenHead: 40,
		male:   ss("Hai", "Hung", "Nam", "Quang", "Son", "Long", "Dung", "Khoa", "Bao", "Hieu", "Phong", "Tam", "Vinh", "Cuong"),
		female: ss("Mai", "Phuong", "Trang", "Vy", "Ha", "Nhung", "Thao", "Yen", "Hoa", "Ngoc", "Thu", "Hang", "Diep", "Loan")},
	"indian": {surHead: 50, givenHead: 45,
		surnames: ss("Agarwal", "Bhat", "Chopra", "Desai", "Gandhi", "Ghosh", "Jain", "Joshi", "Kapoor", "Malhotra",
			"Menon", "Mishra", "Nair", "Pandey", "Pillai", "Rao", "Saxena", "Sinha", "Trivedi", "Verma", "Yadav",
			"Banerjee", "Chatterjee", "Das", "Dutta", "Kulkarni", "Naidu", "Chauhan", "Bose", "Mukherjee"),
		male: ss("Aditya", "Amit", "Anil", "Ashok", "Deepak", "Gaurav", "Karan", "Manish", "Nikhil", "Pradeep",
			"Rajesh", "Ravi", "Rohit", "Sachin", "Suresh", "Vijay", "Vivek", "Anand", "Harish", "Kiran"),
		female: ss("Anjali", "Divya", "Geeta", "Kavya", "Meena", "Neha", "Nisha", "Pooja", "Radha", "Rekha",
			"Shreya", "Sunita", "Swati", "Uma", "Pallavi", "Sneha", "Asha", "Ritu", "Nandini", "Shalini")},
	"russian": {surHead: 40, givenHead: 70,
		surA: ss("Abram", "Bel", "Bog", "Bor", "Vin", "Gol", "Gor", "Gus", "Dan", "Yer", "Zhuk", "Zim", "Kar",
			"Kir", "Kon", "Kras", "Kul", "Lap", "Lar", "Mak", "Mal", "Mar", "Med", "Mel", "Naz", "Nik", "Orl",
			"Pan", "Ros", "Sav", "Sem", "Sid", "Tar", "Tit", "Ush", "Fil", "Khar", "Chern", "Shar", "Yak"),
		surB:   ss("ov", "in", "anov", "ikov", "enkov"),
		male:   ss("Boris", "Grigori", "Konstantin", "Leonid", "Maxim", "Oleg", "Roman", "Stanislav", "Timur", "Viktor"),
		female: ss("Alla", "Galina", "Lyudmila", "Marina", "Nadezhda", "Oksana", "Polina", "Valentina", "Vera", "Zoya")},
	"german": {surHead: 35, givenHead: 55,
		surA: ss("Acker", "Alt", "Bach", "Berg", "Blum", "Brand", "Eich", "Eisen", "Feld", "Frei", "Gold", "Grün",
			"Hart", "Heil", "Hoch", "Kalt", "Kirch", "Klein", "Lang", "Lind", "Mittel", "Neu", "Ober", "Ried",
			"Rosen", "Schön", "Stein", "Wald", "Weiss", "Wolf"),
		surB: ss("mann", "berg", "feld", "stein", "bach", "hof", "haus", "ner", "ler", "inger"),
		male: ss("Dieter", "Helmut", "Jörg", "Karl", "Lothar", "Manfred", "Rainer", "Reinhard", "Thorsten", "Uwe",
			"Werner", "Horst", "Bernd", "Heinz", "Ralf"),
		female: ss("Anke", "Birgit", "Dagmar", "Elke", "Heike", "Ingrid", "Karin", "Petra", "Renate", "Silke",
			"Ulrike", "Gudrun", "Helga", "Jutta", "Marlene")},
	"irish": {surHead: 45, givenHead: 50,
		surnames: ss("Brennan", "Doyle", "Dunne", "Fitzgerald", "Gallagher", "Keane", "Kennedy", "Lynch", "Maguire",
			"Moran", "Nolan", "Quinn", "Reilly", "Ryan", "Sheehan", "Whelan", "Connolly", "Daly", "Farrell",
			"Hogan", "Kavanagh", "Regan", "Donnelly", "Costello", "Flanagan", "Hennessy", "McGrath",
			"McLoughlin", "McNamara", "Mulligan", "Keegan", "Phelan"),
		male:   ss("Cillian", "Colm", "Conor", "Darragh", "Eoin", "Fionn", "Oisín", "Ronan", "Cathal", "Dónal"),
		female: ss("Aisling", "Ciara", "Clodagh", "Deirdre", "Gráinne", "Orla", "Róisín", "Sinéad", "Áine", "Maeve")},
}

// umlauts transcribes German umlauts the way forms without them write them.
var umlauts = strings.NewReplacer("ü", "ue", "ö", "oe", "ä", "ae", "Ü", "Ue", "Ö", "Oe", "Ä", "Ae")

// spellings returns name and the ways it is written without its
// diacritics: the umlaut transcription (Grünberg → Gruenberg) and the
// plain letters (Grunberg, Peña → Pena).
func spellings(name string) []string {
	v := []string{name}
	if t := umlauts.Replace(name); t != name {
		v = append(v, t)
	}
	if f := folder.Replace(name); f != name && f != v[len(v)-1] {
		v = append(v, f)
	}
	return v
}

// zipf is the cumulative weight table of a head of n names: rank r
// weighs zipfScale/(r+offset), so the first names are the commonest and
// the weights fall off slowly (integers: the same draws everywhere).
type zipf []uint64

const zipfScale = 1 << 30

func newZipf(n, offset int) zipf {
	z := make(zipf, n)
	var sum uint64
	for r := range n {
		sum += zipfScale / uint64(r+offset)
		z[r] = sum
	}
	return z
}

// draw returns a rank.
func (z zipf) draw(r *crng) int {
	k := r.next() % z[len(z)-1]
	lo, hi := 0, len(z)-1
	for lo < hi {
		m := (lo + hi) / 2
		if k < z[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Zipf offsets of the heads: given names fall off faster than family
// names, whose commonest cover less of a population.
const (
	givenZipfOffset = 4
	surZipfOffset   = 8
)
