package identity

// Name, address and organisation pools of the customer generator
// (customers.go). Variant groups follow common usage: English hypocorisms
// as in the US Social Security and FamilySearch nickname lists, Spanish
// hipocorísticos (Pepe for José, Paco for Francisco, Lupe for Guadalupe),
// Russian diminutives and their English transliterations (BGN/PCGN and
// passport spellings: Aleksandr/Alexander, Sasha), German umlaut
// transcriptions (ü → ue or u) and Irish fadas dropped or anglicised.

// nameGroup is a given name with the ways sources write it: spell holds
// spellings and transliterations of the same name, nick its nicknames.
type nameGroup struct {
	formal      string
	spell, nick []string
}

func ng(formal string, spell, nick []string) nameGroup { return nameGroup{formal, spell, nick} }

func ss(v ...string) []string { return v }

// culture is a pool of given names (by sex) and surnames. Surname variants
// list the spellings of one surname; the first is the canonical one.
// familyFirst is true where the family name is customarily written first.
type culture struct {
	name         string
	weight       int
	male, female []nameGroup
	surnames     [][]string
	familyFirst  bool
	// phone is the country's calling code and a generator of national
	// significant numbers; empty means US numbers only.
	phone string
}

var cultures = []culture{
	{name: "anglo", weight: 55,
		male: []nameGroup{
			ng("Robert", nil, ss("Bob", "Rob", "Bobby")), ng("William", nil, ss("Bill", "Will", "Billy")),
			ng("James", nil, ss("Jim", "Jimmy", "Jamie")), ng("Michael", nil, ss("Mike", "Mick")),
			ng("Richard", nil, ss("Rick", "Dick", "Rich")), ng("Thomas", nil, ss("Tom", "Tommy")),
			ng("Charles", nil, ss("Charlie", "Chuck")), ng("Christopher", nil, ss("Chris")),
			ng("Daniel", nil, ss("Dan", "Danny")), ng("Matthew", nil, ss("Matt")), ng("Anthony", nil, ss("Tony")),
			ng("Joseph", nil, ss("Joe", "Joey")), ng("David", nil, ss("Dave")), ng("Steven", ss("Stephen"), ss("Steve")),
			ng("Edward", nil, ss("Ed", "Ted", "Eddie")), ng("Andrew", nil, ss("Andy", "Drew")),
			ng("Benjamin", nil, ss("Ben")), ng("Jonathan", ss("Johnathan"), ss("Jon")), ng("Samuel", nil, ss("Sam")),
			ng("Nicholas", ss("Nicolas"), ss("Nick")), ng("Kevin", nil, nil), ng("Brian", ss("Bryan"), nil),
			ng("Jason", nil, nil), ng("Ryan", nil, nil), ng("Eric", ss("Erik"), nil), ng("Mark", ss("Marc"), nil),
			ng("Gary", nil, nil), ng("Scott", nil, nil), ng("Patrick", nil, ss("Pat")), ng("Gregory", nil, ss("Greg")),
			ng("Timothy", nil, ss("Tim")), ng("Peter", nil, ss("Pete")), ng("Jeffrey", ss("Geoffrey"), ss("Jeff")),
			ng("Lawrence", nil, ss("Larry")), ng("Raymond", nil, ss("Ray")), ng("Henry", nil, ss("Hank", "Harry")),
			ng("Walter", nil, ss("Walt")), ng("Gerald", nil, ss("Jerry")), ng("Douglas", nil, ss("Doug")),
			ng("Philip", ss("Phillip"), ss("Phil")), ng("John", nil, ss("Jack", "Johnny")), ng("George", nil, nil),
		},
		female: []nameGroup{
			ng("Elizabeth", ss("Elisabeth"), ss("Liz", "Beth", "Betty", "Eliza", "Lizzie")),
			ng("Margaret", nil, ss("Maggie", "Peggy", "Meg")),
			ng("Katherine", ss("Catherine", "Kathryn"), ss("Kate", "Katie", "Kathy", "Cathy")),
			ng("Jennifer", nil, ss("Jen", "Jenny")), ng("Patricia", nil, ss("Pat", "Patty", "Trish")),
			ng("Susan", nil, ss("Sue", "Susie")), ng("Deborah", ss("Debra"), ss("Deb", "Debbie")),
			ng("Rebecca", nil, ss("Becky", "Becca")), ng("Jessica", nil, ss("Jess", "Jessie")),
			ng("Victoria", nil, ss("Vicky", "Tori")), ng("Christine", nil, ss("Chris", "Chrissy")),
			ng("Barbara", nil, ss("Barb")), ng("Dorothy", nil, ss("Dot", "Dottie")), ng("Abigail", nil, ss("Abby")),
			ng("Samantha", nil, ss("Sam")), ng("Alexandra", nil, ss("Alex", "Lexi")), ng("Kimberly", nil, ss("Kim")),
			ng("Amanda", nil, ss("Mandy")), ng("Jacqueline", nil, ss("Jackie")), ng("Mary", nil, nil),
			ng("Linda", nil, nil), ng("Sarah", ss("Sara"), nil), ng("Karen", nil, nil), ng("Nancy", nil, nil),
			ng("Lisa", nil, nil), ng("Emily", nil, nil), ng("Michelle", nil, nil), ng("Laura", nil, nil),
			ng("Amy", nil, nil), ng("Angela", nil, nil), ng("Melissa", nil, nil), ng("Stephanie", nil, ss("Steph")),
			ng("Rachel", nil, nil), ng("Hannah", ss("Hanna"), nil), ng("Anna", nil, nil), ng("Olivia", nil, ss("Liv")),
			ng("Emma", nil, nil), ng("Grace", nil, nil), ng("Ann", ss("Anne"), nil),
		},
		surnames: [][]string{
			ss("Smith"), ss("Johnson"), ss("Williams"), ss("Brown"), ss("Jones"), ss("Miller"), ss("Davis"), ss("Wilson"),
			ss("Anderson"), ss("Taylor"), ss("Thomas"), ss("Moore"), ss("Jackson"), ss("Martin"), ss("Lee"),
			ss("Thompson"), ss("White"), ss("Harris"), ss("Clark"), ss("Lewis"), ss("Robinson"), ss("Walker"),
			ss("Young"), ss("Allen"), ss("King"), ss("Wright"), ss("Scott"), ss("Hill"), ss("Green"), ss("Adams"),
			ss("Baker"), ss("Nelson"), ss("Carter"), ss("Mitchell"), ss("Roberts"), ss("Turner"), ss("Phillips"),
			ss("Campbell"), ss("Parker"), ss("Evans"), ss("Edwards"), ss("Collins"), ss("Stewart"), ss("Morris"),
			ss("Murray"), ss("Cook"), ss("Rogers"), ss("Reed"), ss("Bailey"), ss("Bell"), ss("Cooper"),
			ss("Richardson"), ss("Cox"), ss("Howard"), ss("Ward"), ss("Peterson", "Petersen"), ss("Gray", "Grey"),
			ss("Watson"), ss("Brooks"), ss("Sanders"), ss("Price"), ss("Bennett"), ss("Wood"), ss("Barnes"),
			ss("Ross"), ss("Henderson"), ss("Coleman"), ss("Jenkins"), ss("Perry"), ss("Powell"), ss("Long"),
			ss("Patterson"), ss("Hughes"), ss("Washington"), ss("Butler"), ss("Simmons"), ss("Foster"),
			ss("Bryant"), ss("Russell"), ss("Griffin"), ss("Hayes"), ss("Myers"), ss("Ford"), ss("Hamilton"),
			ss("Graham"), ss("Wallace"), ss("Woods"), ss("Cole"), ss("West"), ss("Jordan"), ss("Owens"),
			ss("Reynolds"), ss("Fisher"), ss("Ellis"), ss("Harrison"), ss("Gibson"), ss("McDonald", "MacDonald"),
			ss("Marshall"), ss("Stevens", "Stephens"),
		}},
	{name: "hispanic", weight: 18, phone: "52",
		male: []nameGroup{
			ng("José", ss("Jose"), ss("Pepe", "Chepe")), ng("Francisco", nil, ss("Paco", "Pancho", "Frank")),
			ng("Guillermo", ss("William"), ss("Memo", "Willy")), ng("Alejandro", nil, ss("Alex", "Ale")),
			ng("Jesús", ss("Jesus"), ss("Chucho", "Chuy")), ng("Manuel", nil, ss("Manolo", "Manny")),
			ng("Eduardo", nil, ss("Lalo", "Eddie")), ng("Roberto", nil, ss("Beto")), ng("Juan", nil, nil),
			ng("Luis", ss("Luís"), nil), ng("Carlos", nil, nil), ng("Miguel", nil, nil), ng("Jorge", nil, nil),
			ng("Ricardo", nil, ss("Ricky")), ng("Ignacio", nil, ss("Nacho")), ng("Antonio", nil, ss("Toño", "Tony")),
			ng("Rafael", nil, ss("Rafa")), ng("Enrique", nil, ss("Quique", "Kike")),
		},
		female: []nameGroup{
			ng("María", ss("Maria"), nil), ng("Guadalupe", nil, ss("Lupe", "Lupita")), ng("Dolores", nil, ss("Lola")),
			ng("Concepción", ss("Concepcion"), ss("Concha", "Conchita")), ng("Mercedes", nil, ss("Meche")),
			ng("Rosario", nil, ss("Charo")), ng("Isabel", nil, ss("Chabela", "Isa")), ng("Ana", nil, nil),
			ng("Sofía", ss("Sofia"), nil), ng("Lucía", ss("Lucia"), nil), ng("Carmen", nil, nil), ng("Elena", nil, nil),
			ng("Gabriela", nil, ss("Gaby")), ng("Verónica", ss("Veronica"), ss("Vero")),
		},
		surnames: [][]string{
			ss("García", "Garcia"), ss("Martínez", "Martinez"), ss("Rodríguez", "Rodriguez"),
			ss("Hernández", "Hernandez"), ss("López", "Lopez"), ss("González", "Gonzalez"), ss("Pérez", "Perez"),
			ss("Sánchez", "Sanchez"), ss("Ramírez", "Ramirez"), ss("Torres"), ss("Flores"), ss("Rivera"),
			ss("Gómez", "Gomez"), ss("Díaz", "Diaz"), ss("Reyes"), ss("Morales"), ss("Cruz"), ss("Ortiz"),
			ss("Gutiérrez", "Gutierrez"), ss("Chávez", "Chavez"), ss("Ruiz"), ss("Álvarez", "Alvarez"),
			ss("Castillo"), ss("Jiménez", "Jimenez"), ss("Vásquez", "Vasquez", "Vazquez"), ss("Romero"),
		}},
	{name: "chinese", weight: 5, familyFirst: true, phone: "86",
		male: []nameGroup{
			ng("Wei", nil, nil), ng("Lei", nil, nil), ng("Jun", nil, nil), ng("Xiaoming", ss("Xiao Ming"), ss("Sam")),
			ng("Hao", nil, nil), ng("Jian", nil, nil), ng("Zhiwei", ss("Chi-Wei"), ss("David")),
		},
		female: []nameGroup{
			ng("Fang", nil, nil), ng("Jing", nil, ss("Jenny")), ng("Min", nil, nil), ng("Yan", nil, nil),
			ng("Hui", nil, nil), ng("Xiaoli", ss("Xiao Li"), ss("Lily")), ng("Meiling", ss("Mei Ling", "Mei-Ling"), nil),
		},
		surnames: [][]string{
			ss("Wang"), ss("Li", "Lee"), ss("Zhang", "Chang"), ss("Liu"), ss("Chen", "Chan"), ss("Yang"),
			ss("Huang", "Wong"), ss("Zhao", "Chao"), ss("Wu"), ss("Zhou", "Chou"), ss("Xu", "Hsu"), ss("Sun"),
		}},
	{name: "vietnamese", weight: 3, familyFirst: true, phone: "84",
		male:   []nameGroup{ng("Minh", nil, nil), ng("Tuan", ss("Tuấn"), nil), ng("Duc", ss("Đức"), nil), ng("Thanh", nil, nil)},
		female: []nameGroup{ng("Linh", nil, nil), ng("Huong", ss("Hương"), nil), ng("Lan", nil, nil), ng("Anh", nil, nil)},
		surnames: [][]string{
			ss("Nguyen", "Nguyễn"), ss("Tran", "Trần"), ss("Le", "Lê"), ss("Pham", "Phạm"), ss("Huynh", "Hoang"),
			ss("Phan"), ss("Vu", "Võ"),
		}},
	{name: "indian", weight: 6, phone: "91",
		male: []nameGroup{
			ng("Arjun", nil, nil), ng("Rahul", nil, nil), ng("Vikram", nil, ss("Vik")), ng("Sanjay", nil, nil),
			ng("Mohammed", ss("Muhammad", "Mohamed", "Mohammad"), ss("Mo")), ng("Venkatesh", nil, ss("Venky")),
		},
		female: []nameGroup{
			ng("Priya", nil, nil), ng("Ananya", nil, nil), ng("Deepa", nil, nil), ng("Kavita", ss("Kavitha"), nil),
			ng("Aisha", ss("Ayesha"), nil), ng("Lakshmi", ss("Laxmi"), nil),
		},
		surnames: [][]string{
			ss("Patel"), ss("Sharma"), ss("Singh"), ss("Kumar"), ss("Gupta"), ss("Shah"), ss("Reddy"),
			ss("Iyer", "Iyengar"), ss("Khan"), ss("Mehta"),
		}},
	{name: "russian", weight: 5, phone: "7",
		male: []nameGroup{
			ng("Aleksandr", ss("Alexander", "Aleksander", "Alexandr"), ss("Sasha", "Alex", "Shura")),
			ng("Dmitri", ss("Dmitry", "Dmitriy"), ss("Dima")), ng("Yevgeny", ss("Evgeny", "Evgeniy", "Eugene"), ss("Zhenya")),
			ng("Mikhail", ss("Michael"), ss("Misha")), ng("Sergei", ss("Sergey"), ss("Seryozha")),
			ng("Nikolai", ss("Nikolay", "Nicholas"), ss("Kolya")), ng("Vladimir", nil, ss("Volodya", "Vova")),
			ng("Ivan", nil, ss("Vanya")), ng("Alexei", ss("Aleksey", "Alexey"), ss("Lyosha")),
			ng("Pavel", ss("Paul"), ss("Pasha")), ng("Andrei", ss("Andrey"), nil), ng("Yuri", ss("Yury", "Iurii"), nil),
		},
		female: []nameGroup{
			ng("Yekaterina", ss("Ekaterina", "Katerina"), ss("Katya")), ng("Natalia", ss("Natalya", "Natalie"), ss("Natasha")),
			ng("Anastasia", nil, ss("Nastya")), ng("Yelena", ss("Elena", "Helen"), ss("Lena")), ng("Olga", nil, ss("Olya")),
			ng("Tatiana", ss("Tatyana"), ss("Tanya")), ng("Svetlana", nil, ss("Sveta")), ng("Mariya", ss("Maria"), ss("Masha")),
			ng("Irina", nil, ss("Ira")), ng("Yulia", ss("Julia", "Yuliya"), ss("Yulya")),
		},
		surnames: [][]string{
			ss("Ivanov"), ss("Smirnov"), ss("Kuznetsov", "Kuznetzov"), ss("Popov"), ss("Sokolov"), ss("Lebedev"),
			ss("Kozlov"), ss("Novikov"), ss("Morozov"), ss("Petrov"), ss("Volkov"), ss("Solovyov", "Soloviev"),
			ss("Vasiliev", "Vasilyev"), ss("Zaitsev", "Zaytsev"), ss("Pavlov"), ss("Fyodorov", "Fedorov"),
		}},
	{name: "german", weight: 4, phone: "49",
		male: []nameGroup{
			ng("Jürgen", ss("Juergen", "Jurgen"), nil), ng("Günter", ss("Guenter", "Gunter", "Gunther"), nil),
			ng("Johannes", nil, ss("Hans", "Jan")), ng("Friedrich", nil, ss("Fritz")), ng("Wolfgang", nil, ss("Wolf")),
			ng("Stefan", ss("Stephan"), nil), ng("Klaus", ss("Claus"), nil), ng("Matthias", ss("Mathias"), nil),
		},
		female: []nameGroup{
			ng("Ursula", nil, ss("Uschi")), ng("Katharina", nil, ss("Kathi", "Katrin")), ng("Brigitte", nil, ss("Gitte")),
			ng("Sabine", nil, nil), ng("Monika", ss("Monica"), nil), ng("Gisela", nil, nil),
		},
		surnames: [][]string{
			ss("Müller", "Mueller", "Muller"), ss("Schmidt"), ss("Schneider"), ss("Fischer"), ss("Weber"),
			ss("Meyer", "Meier"), ss("Wagner"), ss("Becker"), ss("Schulz"), ss("Hoffmann", "Hofmann"),
			ss("Schäfer", "Schaefer", "Schafer"), ss("Koch"), ss("Bauer"), ss("Richter"), ss("Schröder", "Schroeder"),
		}},
	{name: "irish", weight: 4,
		male: []nameGroup{
			ng("Seán", ss("Sean", "Shaun", "Shawn"), nil), ng("Ciarán", ss("Ciaran", "Kieran"), nil),
			ng("Liam", nil, nil), ng("Declan", nil, nil), ng("Padraig", ss("Pádraig"), ss("Paddy", "Pat")),
		},
		female: []nameGroup{
			ng("Siobhán", ss("Siobhan"), nil), ng("Niamh", ss("Neve"), nil), ng("Aoife", ss("Eva"), nil),
			ng("Caoimhe", ss("Keeva"), nil), ng("Bríd", ss("Brigid", "Bridget"), ss("Biddy")),
		},
		surnames: [][]string{
			ss("O'Neill", "O'Neil", "ONeill", "O Neill"), ss("O'Brien", "OBrien", "O Brien"), ss("Murphy"),
			ss("Kelly"), ss("McCarthy", "MacCarthy", "Mc Carthy"), ss("Sullivan", "O'Sullivan"), ss("Walsh"),
			ss("Byrne", "Burns"), ss("Ó Súilleabháin", "O'Sullivan"),
		}},
}

var (
	streetNames = []string{"Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
		"Main", "Church", "Mill", "River", "Sunset", "Highland", "Jefferson", "Lincoln", "Walnut", "Spruce",
		"Willow", "Chestnut", "Franklin", "Madison", "Ridge", "Meadow", "Forest", "Spring", "Valley",
		"Prospect", "Cherry", "Center", "Union", "Adams", "Jackson", "Hickory", "Birch", "Dogwood", "Laurel",
		"Magnolia", "Poplar", "Sycamore", "Orchard", "Grove", "Lakeview", "Fairway", "Harbor", "Bay",
		"Summit", "Woodland", "Garden", "1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th"}
	// streetTypes: full form and the usual abbreviation.
	streetTypes = [][2]string{{"Street", "St"}, {"Avenue", "Ave"}, {"Road", "Rd"}, {"Drive", "Dr"},
		{"Lane", "Ln"}, {"Court", "Ct"}, {"Boulevard", "Blvd"}, {"Place", "Pl"}, {"Way", "Way"},
		{"Terrace", "Ter"}, {"Circle", "Cir"}}
	// places: city, state, ZIP prefix (3 digits), phone area codes.
	places = []struct {
		city, state, zip string
		area             []string
	}{
		{"Springfield", "IL", "627", ss("217")}, {"Springfield", "MA", "011", ss("413")},
		{"Riverside", "CA", "925", ss("951")}, {"Fairview", "TX", "750", ss("972", "214")},
		{"Madison", "WI", "537", ss("608")}, {"Georgetown", "TX", "786", ss("512")},
		{"Salem", "OR", "973", ss("503")}, {"Franklin", "TN", "370", ss("615")},
		{"Greenville", "SC", "296", ss("864")}, {"Bristol", "CT", "060", ss("860")},
		{"Dover", "DE", "199", ss("302")}, {"Newport", "RI", "028", ss("401")},
		{"Portland", "OR", "972", ss("503", "971")}, {"Austin", "TX", "787", ss("512", "737")},
		{"Seattle", "WA", "981", ss("206")}, {"Denver", "CO", "802", ss("303", "720")},
		{"Chicago", "IL", "606", ss("312", "773")}, {"Boston", "MA", "021", ss("617", "857")},
		{"San Diego", "CA", "921", ss("619", "858")}, {"Phoenix", "AZ", "850", ss("602", "480")},
		{"Atlanta", "GA", "303", ss("404", "678")}, {"Miami", "FL", "331", ss("305", "786")},
		{"Houston", "TX", "770", ss("713", "832")}, {"Brooklyn", "NY", "112", ss("718", "347")},
		{"Minneapolis", "MN", "554", ss("612")}, {"Columbus", "OH", "432", ss("614")},
		{"Raleigh", "NC", "276", ss("919")}, {"Sacramento", "CA", "958", ss("916")},
		{"Albuquerque", "NM", "871", ss("505")}, {"Pittsburgh", "PA", "152", ss("412")},
	}
	emailDomains = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com",
		"icloud.com", "aol.com", "proton.me", "comcast.net"}
	orgTrades = []string{"Plumbing", "Landscaping", "Consulting", "Dental", "Bakery", "Auto Repair",
		"Construction", "Design", "Realty", "Catering", "Electric", "Cleaning Services", "Hardware",
		"Photography", "Accounting", "Law Office", "Veterinary Clinic", "Fitness", "Florist", "Roofing"}
	orgWords = []string{"Acme", "Summit", "Pinnacle", "Blue Ridge", "Evergreen", "Northstar", "Keystone",
		"Silverline", "Redwood", "Harborview", "Ironwood", "Brightpath", "Cornerstone", "Lakeside",
		"Golden Gate", "Riverbend", "Oakmont", "Trident", "Meridian", "Sterling"}
	// orgForms: legal forms and their written variants.
	orgForms = [][]string{
		ss("LLC", "L.L.C.", "Llc", "llc"), ss("Inc.", "Inc", "Incorporated", "INC"),
		ss("Corp.", "Corporation", "Corp"), ss("Co.", "Company", "Co"), ss("Ltd.", "Limited", "Ltd"),
		ss("& Sons", "and Sons", "& Sons Inc."), ss("Group", "Group LLC"),
	}
	months     = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	monthsLong = []string{"January", "February", "March", "April", "May", "June", "July", "August",
		"September", "October", "November", "December"}
)
