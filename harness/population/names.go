package population

// Realistic French name, street and city lists. Names are not canaries (they
// repeat across people); they make pages look like the real thing and let the
// e-mail canary confirm a match.

var firstNamesF = []string{
	"Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Martine", "Christine",
	"Sophie", "Valerie", "Sandrine", "Stephanie", "Celine", "Aurelie", "Julie",
	"Camille", "Laura", "Manon", "Emma", "Chloe", "Lea", "Ines", "Sarah", "Jade",
	"Louise", "Alice", "Lina", "Zoe", "Anais", "Pauline", "Elodie", "Melanie",
	"Fatima", "Amina", "Yasmine", "Claire", "Helene", "Agnes", "Monique",
}

var firstNamesM = []string{
	"Jean", "Philippe", "Michel", "Alain", "Patrick", "Nicolas", "Christophe",
	"Pierre", "Christian", "Eric", "Frederic", "Laurent", "Stephane", "David",
	"Julien", "Thomas", "Lucas", "Hugo", "Louis", "Nathan", "Enzo", "Gabriel",
	"Arthur", "Jules", "Raphael", "Adam", "Mohamed", "Karim", "Mehdi", "Sebastien",
	"Olivier", "Antoine", "Vincent", "Romain", "Maxime", "Alexandre", "Bruno",
}

var lastNames = []string{
	"Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
	"Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David",
	"Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert",
	"Fontaine", "Rousseau", "Vincent", "Muller", "Lefevre", "Faure", "Andre",
	"Mercier", "Blanc", "Guerin", "Boyer", "Garnier", "Chevalier", "Francois",
	"Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clement", "Morin",
	"Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand",
	"Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noel", "Meyer", "Dufour",
	"Meunier", "Brun", "Blanchard", "Giraud", "Joly", "Riviere", "Lucas", "Brunet",
	"Gaillard", "Barbier", "Arnaud", "Martinez", "Gerard", "Roche", "Renard",
	"Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger",
	"Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier",
	"Philippe", "Bourgeois", "Pierre", "Benoit", "Rey", "Leclerc", "Payet",
	"Rolland", "Leclercq", "Guillaume", "Lecomte", "Lopez", "Jean", "Dupuy",
	"Guillot", "Hubert", "Berger", "Carpentier", "Sanchez", "Dupuis", "Moulin",
	"Louis", "Deschamps", "Huet", "Vasseur", "Perez", "Boucher", "Fleury", "Royer",
	"Klein", "Jacquet", "Adam", "Paris", "Poirier", "Marty", "Aubry", "Guyot",
	"Carre", "Charles", "Renault", "Charpentier", "Menard", "Maillard", "Baron",
}

var streets = []string{
	"rue de la Republique", "avenue Jean Jaures", "rue Victor Hugo", "boulevard Gambetta",
	"rue Pasteur", "place de la Mairie", "rue des Ecoles", "chemin des Vignes",
	"allee des Tilleuls", "rue du Moulin", "avenue de la Gare", "rue Jules Ferry",
	"impasse des Lilas", "rue de l'Eglise", "boulevard Voltaire", "rue Nationale",
	"avenue du General de Gaulle", "rue des Acacias", "rue Emile Zola", "quai des Chartrons",
}

var cities = []string{
	"Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Montpellier",
	"Strasbourg", "Bordeaux", "Lille", "Rennes", "Reims", "Saint-Etienne", "Toulon",
	"Le Havre", "Grenoble", "Dijon", "Angers", "Nimes", "Villeurbanne", "Clermont-Ferrand",
	"Le Mans", "Aix-en-Provence", "Brest", "Tours", "Amiens", "Limoges", "Annecy",
	"Perpignan", "Boulogne-Billancourt", "Metz", "Besancon", "Orleans", "Rouen",
}

var families = []string{
	"celibataire, sans enfant", "celibataire, 1 enfant", "celibataire, 2 enfants",
	"marie(e), 1 enfant", "marie(e), 2 enfants", "marie(e), 3 enfants",
	"pacse(e), 1 enfant", "pacse(e), 2 enfants", "divorce(e), 1 enfant",
	"divorce(e), 2 enfants", "veuf(ve), 2 enfants", "concubinage, 3 enfants",
	"marie(e), 4 enfants", "celibataire, 3 enfants",
}

var mailDomains = []string{
	"laposte.example", "orange.example", "free.example", "gmail.example",
	"sfr.example", "outlook.example", "wanadoo.example", "yahoo.example",
}

// bankCodes are real French bank codes (BNP, Societe Generale, La Banque
// Postale, Credit Mutuel, LCL, Caisse d'Epargne, Credit Agricole, CIC).
var bankCodes = []uint64{30004, 30003, 20041, 10278, 30002, 17515, 18206, 30066}

// departments are the metropolitan department codes 01..95 except 20
// (Corsica uses 2A/2B, which have no place in an all-digit NIR here).
var departments = func() []uint64 {
	d := make([]uint64, 0, 94)
	for i := uint64(1); i <= 95; i++ {
		if i != 20 {
			d = append(d, i)
		}
	}
	return d
}()

var departmentIndex = func() [100]int8 {
	var x [100]int8
	for i := range x {
		x[i] = -1
	}
	for i, d := range departments {
		x[d] = int8(i)
	}
	return x
}()
