package mask

// The word lists fake.* draws from. They are part of Lethe's output
// format: the same input and key must give the same fake value in every
// version, months apart, so these lists are frozen. Each list's length is
// a power of two, so that a choice consumes whole digest bits and distinct
// bits always pick distinct words (which keeps fake.email and
// fake.username unique-preserving). Entries are ASCII letters only, so
// that they can be lower-cased into e-mail addresses and user names, and
// distinct ignoring case. TestWordListsFrozen fails on any change.

// firstNames holds 128 given names common across Europe.
var firstNames = [128]string{
	"Ada", "Agnes", "Alba", "Alice", "Amelie", "Ana", "Anna", "Astrid",
	"Beatriz", "Bianca", "Camille", "Carla", "Carmen", "Chiara", "Chloe", "Clara",
	"Dora", "Elena", "Elin", "Eliza", "Ella", "Elsa", "Emilia", "Emma",
	"Erika", "Eva", "Ewa", "Freya", "Frida", "Giulia", "Grace", "Greta",
	"Hanna", "Helena", "Ida", "Ines", "Ingrid", "Irene", "Iris", "Isabel",
	"Jana", "Julia", "Karin", "Katja", "Lara", "Laura", "Lea", "Lena",
	"Lina", "Linnea", "Lisa", "Lotte", "Lucia", "Lucie", "Luisa", "Maja",
	"Manon", "Mara", "Maria", "Marta", "Mia", "Nadia", "Nina", "Nora",
	"Adam", "Adrian", "Alex", "Anton", "Arthur", "Axel", "Bas", "Ben",
	"Bruno", "Carlos", "Daan", "Daniel", "David", "Diego", "Emil", "Enzo",
	"Erik", "Felix", "Filip", "Finn", "Gabriel", "Hugo", "Ivan", "Jakob",
	"Jan", "Jonas", "Jorge", "Jules", "Karl", "Lars", "Leon", "Liam",
	"Louis", "Luca", "Lucas", "Lukas", "Magnus", "Marco", "Marek", "Mateo",
	"Matteo", "Max", "Milan", "Nathan", "Nico", "Nils", "Noah", "Oliver",
	"Oscar", "Pablo", "Paul", "Pedro", "Piotr", "Rafael", "Ruben", "Samuel",
	"Simon", "Stefan", "Theo", "Thomas", "Tomas", "Victor", "Viktor", "Yann",
}

// lastNames holds 128 family names common across Europe.
var lastNames = [128]string{
	"Andersen", "Andersson", "Bakker", "Becker", "Berg", "Bernard", "Bianchi", "Bos",
	"Braun", "Brown", "Bruno", "Colombo", "Costa", "Davies", "Dekker", "Diaz",
	"Dubois", "Durand", "Eriksson", "Esposito", "Evans", "Fernandez", "Ferrari", "Ferreira",
	"Fischer", "Fontaine", "Gallo", "Garcia", "Girard", "Gomez", "Greco", "Green",
	"Hall", "Hansen", "Hartmann", "Horvat", "Hughes", "Ivanov", "Jansen", "Jensen",
	"Johansson", "Jones", "Kaminski", "Karlsson", "Kelly", "Keller", "Klein", "Koch",
	"Kovac", "Kowalski", "Krause", "Lange", "Larsen", "Larsson", "Laurent", "Lefebvre",
	"Leroy", "Lewandowski", "Lindqvist", "Lopez", "Marino", "Martin", "Martinez", "Meijer",
	"Meyer", "Moreau", "Moreno", "Mulder", "Muller", "Murphy", "Nagy", "Neumann",
	"Nielsen", "Nilsson", "Novak", "Nowak", "Olsen", "Oliveira", "Pedersen", "Pereira",
	"Perez", "Peters", "Petit", "Popescu", "Ricci", "Richter", "Roberts", "Romano",
	"Rossi", "Ruiz", "Russo", "Ryan", "Sanchez", "Santos", "Schmidt", "Schneider",
	"Schulz", "Schwarz", "Silva", "Simon", "Smit", "Smith", "Szabo", "Taylor",
	"Thomas", "Toth", "Turner", "Vermeulen", "Virtanen", "Visser", "Vos", "Wagner",
	"Walker", "Walsh", "Weber", "Wilson", "Wojcik", "Wolf", "Wood", "Wright",
	"Zielinski", "Zimmermann", "Korhonen", "Lehmann", "Moretti", "Novotny", "Dimitrov", "Georgiou",
}

// cities holds 64 European cities.
var cities = [64]string{
	"Aarhus", "Antwerp", "Basel", "Bergen", "Bilbao", "Bologna", "Bordeaux", "Bremen",
	"Brno", "Bruges", "Cardiff", "Cork", "Debrecen", "Dortmund", "Dresden", "Eindhoven",
	"Espoo", "Florence", "Gdansk", "Geneva", "Ghent", "Gothenburg", "Graz", "Groningen",
	"Hanover", "Heidelberg", "Innsbruck", "Kaunas", "Krakow", "Leeds", "Leipzig", "Lille",
	"Linz", "Lucerne", "Lyon", "Malaga", "Malmo", "Marseille", "Nantes", "Naples",
	"Nuremberg", "Odense", "Palermo", "Plovdiv", "Porto", "Poznan", "Rennes", "Rotterdam",
	"Salzburg", "Seville", "Split", "Strasbourg", "Stuttgart", "Tampere", "Tartu", "Toulouse",
	"Trondheim", "Turin", "Uppsala", "Utrecht", "Valencia", "Verona", "Wroclaw", "Zaragoza",
}

// streetNames holds 64 names found in street names everywhere.
var streetNames = [64]string{
	"Acacia", "Alder", "Ash", "Beech", "Birch", "Bridge", "Castle", "Cedar",
	"Chapel", "Chestnut", "Church", "Clover", "Cooper", "Elm", "Fisher", "Forest",
	"Garden", "Hawthorn", "Hazel", "Heather", "High", "Hill", "Holly", "Juniper",
	"Lake", "Laurel", "Linden", "Maple", "Market", "Meadow", "Mill", "Miller",
	"Oak", "Orchard", "Park", "Pine", "Poplar", "Primrose", "Quarry", "Queens",
	"River", "Rose", "Rowan", "School", "Silver", "Spring", "Station", "Sycamore",
	"Tanner", "Thistle", "Tower", "Valley", "Victoria", "Walnut", "Weaver", "Well",
	"Willow", "Windmill", "Wood", "Yew", "Harbour", "Kings", "Abbey", "Albert",
}

// streetTypes holds 8 kinds of street.
var streetTypes = [8]string{
	"Street", "Road", "Lane", "Avenue", "Way", "Close", "Drive", "Place",
}

// companyWords holds 32 trades a company name can carry.
var companyWords = [32]string{
	"Analytics", "Bakery", "Consulting", "Design", "Digital", "Energy", "Engineering", "Farms",
	"Foods", "Furniture", "Health", "Imports", "Labs", "Logistics", "Marine", "Media",
	"Motors", "Optics", "Outfitters", "Pharma", "Print", "Publishing", "Robotics", "Software",
	"Solutions", "Studio", "Systems", "Textiles", "Trading", "Travel", "Ventures", "Works",
}

// companySuffixes holds 16 legal forms.
var companySuffixes = [16]string{
	"AB", "AG", "ApS", "AS", "BV", "GmbH", "Inc", "KG",
	"Ltd", "NV", "Oy", "PLC", "SA", "SARL", "SpA", "Srl",
}
